import Foundation

/// Reads fields a file may or may not have (written by newer stages than the reader knows):
/// every function returns nil or empty when the field is absent or not of the expected kind,
/// and never throws. The files themselves were already validated by their own readers.
enum OptionalFields {
  struct Table {
    var title: String
    var header: [String]
    var rows: [[String]]
  }

  static func withObject<T>(_ path: String, _ objectPath: String, _ body: (HDF5Object) throws -> T?) -> T? {
    do {
      let file = try HDF5File.open(path)
      guard try file.exists(objectPath) || objectPath == "/" else { return nil }
      let object: HDF5Object = objectPath == "/" ? try file.root() : try file.group(objectPath)
      return try body(object)
    } catch {
      return nil
    }
  }

  static func stringAttribute(_ path: String, object: String, _ name: String) -> String? {
    withObject(path, object) { object in
      guard try object.hasAttribute(name), try object.attributeIsString(name) else { return nil }
      return try object.stringAttribute(name)
    }
  }

  static func jsonStrings(_ text: String) -> [String]? {
    (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String]
  }

  /// A numeric attribute as text (arrays comma-separated).
  static func numericText(_ object: HDF5Object, _ name: String) throws -> String {
    let values: [Double]
    do {
      values = try object.numericAttribute(name, as: Double.self)
    } catch {
      values = try object.numericAttribute(name, as: Int64.self).map(Double.init)
    }
    return values.map { Numbers.format($0, digits: 6) }.joined(separator: ", ")
  }

  /// The object's attributes whose names are not in `known`, sorted by name, as text.
  static func unknownAttributes(_ path: String, object: String, known: Set<String>) -> [(String, String)] {
    withObject(path, object) { object in
      var facts: [(String, String)] = []
      for name in try object.attributeNames().sorted() where !known.contains(name) {
        if try object.attributeIsString(name) {
          facts.append((name, try object.stringAttribute(name)))
        } else if let text = try? numericText(object, name) {
          facts.append((name, text))
        }
      }
      return facts
    } ?? []
  }

  /// A dataset's values as Float64 (integers converted), with its shape.
  static func values(_ dataset: HDF5Dataset) throws -> [Double] {
    guard let type = dataset.elementType else { return [] }
    if type.isFloatingPoint { return try dataset.read(as: Double.self) }
    if type == .uint64 { return try dataset.read(as: UInt64.self).map(Double.init) }
    return try dataset.read(as: Int64.self).map(Double.init)
  }

  /// Numeric datasets of a group not in `skipping`, with one or two dimensions, as rows.
  static func numericColumns(_ path: String, group: String, skipping: Set<String>) -> [(String, [[Double]])] {
    withObject(path, group) { object in
      guard let group = object as? HDF5Group else { return nil }
      var columns: [(String, [[Double]])] = []
      for name in try group.memberNames().sorted() where !skipping.contains(name) {
        guard try group.kind(of: name) == .dataset else { continue }
        let dataset = try group.dataset(name)
        guard dataset.elementType != nil, dataset.shape.count == 1 || dataset.shape.count == 2 else { continue }
        let flat = try values(dataset)
        let width = max(dataset.rowElements, 1)
        let rows = stride(from: 0, to: flat.count, by: width).map { Array(flat[$0..<min($0 + width, flat.count)]) }
        columns.append((name, rows))
      }
      return columns
    } ?? []
  }

  /// A model-selection candidate table: a group (at the root or in /training_log) whose name
  /// holds "selection" or "candidate", its equal-length one-dimensional datasets as columns; or
  /// a root string attribute of that name holding a JSON array of objects.
  static func selectionTable(_ path: String) -> Table? {
    func isSelection(_ name: String) -> Bool {
      let lower = name.lowercased()
      return lower.contains("selection") || lower.contains("candidate")
    }
    return withObject(path, "/") { object in
      guard let root = object as? HDF5Group else { return nil }
      for name in try root.attributeNames().sorted() where isSelection(name) {
        guard try root.attributeIsString(name) else { continue }
        if let table = jsonTable(try root.stringAttribute(name), title: name) { return table }
      }
      var groups: [HDF5Group] = []
      // Rank/ridge tables ("selection", "model_selection") before the Fourier map's
      // ("feature_selection"), then by name.
      let rootNames = try root.memberNames().sorted {
        let (a, b) = ($0.hasPrefix("feature"), $1.hasPrefix("feature"))
        return a == b ? $0 < $1 : b
      }
      for name in rootNames where isSelection(name) {
        if try root.kind(of: name) == .group { groups.append(try root.group(name)) }
      }
      if try root.contains("training_log") {
        let log = try root.group("training_log")
        for name in try log.memberNames().sorted() where isSelection(name) {
          if try log.kind(of: name) == .group { groups.append(try log.group(name)) }
        }
      }
      for group in groups {
        var header: [String] = []
        var columns: [[String]] = []
        for name in try group.memberNames().sorted() {
          guard try group.kind(of: name) == .dataset else { continue }
          let dataset = try group.dataset(name)
          guard dataset.shape.count == 1 else { continue }
          let column: [String]
          if dataset.elementType != nil {
            column = try values(dataset).map { Numbers.format($0, digits: 5) }
          } else {
            continue
          }
          header.append(name)
          columns.append(column)
        }
        guard let count = columns.first?.count, columns.allSatisfy({ $0.count == count }), count > 0 else { continue }
        var rows: [[String]] = []
        for i in 0..<count { rows.append(columns.map { $0[i] }) }
        var title = group.path
        for name in try group.attributeNames().sorted() {
          guard try group.attributeIsString(name) else { continue }
          let text = try group.stringAttribute(name)
          if let table = jsonTable(text, title: group.path + " " + name) { return table }
          title += "; \(name): \(text)"
        }
        return Table(title: title, header: header, rows: rows)
      }
      return nil
    }
  }

  /// A JSON array of objects as a table (columns: the union of keys, sorted).
  static func jsonTable(_ text: String, title: String) -> Table? {
    guard let array = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [[String: Any]],
      !array.isEmpty
    else { return nil }
    let keys = Set(array.flatMap(\.keys)).sorted()
    let rows = array.map { object in keys.map { key in describe(object[key]) } }
    return Table(title: title, header: keys, rows: rows)
  }

  static func describe(_ value: Any?) -> String {
    switch value {
    case nil: return ""
    case let number as NSNumber:
      if String(cString: number.objCType) == "c" { return number.boolValue ? "true" : "false" }
      return Numbers.format(number.doubleValue, digits: 5)
    case let text as String: return text
    case let other?:
      if let data = try? JSONSerialization.data(withJSONObject: other, options: [.sortedKeys]) {
        return String(decoding: data, as: UTF8.self)
      }
      return "\(other)"
    }
  }
}
