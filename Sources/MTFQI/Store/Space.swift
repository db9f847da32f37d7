import Foundation

/// An observation or action space, serialised as Minari does (`minari.serialization`):
/// `{"type": "Discrete", "dtype": "int64", "start": 0, "n": 4}` or
/// `{"type": "Box", "dtype": "float32", "shape": [2], "low": [...], "high": [...]}`.
/// Only Discrete and Box are supported; anything else is refused by name.
public enum Space: Equatable, Sendable, CustomStringConvertible {
  /// Integers start..<start+n.
  case discrete(n: Int64, start: Int64)
  /// Real vectors of the given shape; `low`/`high` are flattened row-major (nil when the source
  /// gave none: written as -inf/inf). `dtype` is "float32" or "float64".
  case box(shape: [Int], dtype: HDF5ElementType, low: [Double]?, high: [Double]?)

  /// Elements per sample (1 for Discrete).
  public var width: Int {
    switch self {
    case .discrete: 1
    case .box(let shape, _, _, _): shape.reduce(1, *)
    }
  }

  public var isDiscrete: Bool { if case .discrete = self { true } else { false } }

  public var description: String {
    switch self {
    case .discrete(let n, let start): start == 0 ? "Discrete(\(n))" : "Discrete(\(n), start=\(start))"
    case .box(let shape, let dtype, _, _):
      "Box(shape=(\(shape.map(String.init).joined(separator: ", "))\(shape.count == 1 ? "," : "")), \(dtype.name))"
    }
  }

  /// The Minari-style JSON text.
  public var json: String {
    switch self {
    case .discrete(let n, let start):
      return #"{"type": "Discrete", "dtype": "int64", "start": \#(start), "n": \#(n)}"#
    case .box(let shape, let dtype, let low, let high):
      func list(_ values: [Double]?, _ fill: Double) -> String {
        let values = values ?? Array(repeating: fill, count: shape.reduce(1, *))
        return "[" + values.map { value -> String in
          if value == .infinity { return "Infinity" }
          if value == -.infinity { return "-Infinity" }
          if value.isNaN { return "NaN" }
          return dtype == .float32 ? Float(value).description : value.description
        }.joined(separator: ", ") + "]"
      }
      return #"{"type": "Box", "dtype": "\#(dtype.name)", "shape": [\#(shape.map(String.init).joined(separator: ", "))], "low": \#(list(low, -.infinity)), "high": \#(list(high, .infinity))}"#
    }
  }

  /// Parses Minari-style JSON (Python's json module writes Infinity/NaN, which are accepted) or
  /// the short forms `discrete:N`, `discrete:N:START`, `box:D`, `box:D1xD2`, `box:D:float32`.
  /// `context` names where the text came from, for the error message.
  public static func parse(_ text: String, context: String) throws(MTFQIError) -> Space {
    let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
    if !trimmed.hasPrefix("{") { return try parseShort(trimmed, context: context) }
    let object: [String: Any]
    do {
      guard
        let parsed = try JSONSerialization.jsonObject(
          with: Data(quotingNonFiniteNumbers(trimmed).utf8)) as? [String: Any]
      else { throw MTFQIError.invalidInput("\(context): expected a JSON object describing a space") }
      object = parsed
    } catch let error as MTFQIError {
      throw error
    } catch {
      throw MTFQIError.invalidInput("\(context): the space is not valid JSON: \(error.localizedDescription)")
    }
    guard let type = object["type"] as? String else {
      throw MTFQIError.invalidInput("\(context): the space has no \"type\"")
    }
    switch type {
    case "Discrete":
      guard let n = (object["n"] as? NSNumber)?.int64Value, n > 0 else {
        throw MTFQIError.invalidInput("\(context): Discrete space: expected a positive integer \"n\"")
      }
      let start = (object["start"] as? NSNumber)?.int64Value ?? 0
      // start + n - 1, the last value, must be an int64 (checked: a start near the limit traps otherwise).
      guard !start.addingReportingOverflow(n - 1).overflow else {
        throw MTFQIError.invalidInput("\(context): Discrete space: start \(start) + n \(n) - 1 exceeds the int64 range")
      }
      return .discrete(n: n, start: start)
    case "Box":
      guard let shape = object["shape"] as? [NSNumber], !shape.isEmpty || true else {
        throw MTFQIError.invalidInput("\(context): Box space: expected a \"shape\" list")
      }
      let dims = shape.map { $0.intValue }
      let dtypeName = (object["dtype"] as? String) ?? "float32"
      let dtype: HDF5ElementType
      switch dtypeName {
      case "float32": dtype = .float32
      case "float64": dtype = .float64
      default:
        throw MTFQIError.invalidInput(
          "\(context): Box space with dtype \(dtypeName) is not supported (expected float32 or float64)")
      }
      func number(_ value: Any) -> Double? {
        if let number = value as? NSNumber { return number.doubleValue }
        switch value as? String {
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        case "NaN": return .nan
        default: return nil
        }
      }
      func bounds(_ key: String) -> [Double]? {
        if let list = object[key] as? [Any] {
          let values = list.compactMap(number)
          return values.count == list.count ? values : nil
        }
        if let value = object[key] as? NSNumber {
          return Array(repeating: value.doubleValue, count: dims.reduce(1, *))
        }
        return nil
      }
      return .box(shape: dims, dtype: dtype, low: bounds("low"), high: bounds("high"))
    default:
      throw MTFQIError.invalidInput(
        "\(context): the space type \(type) is not supported (mtfqi reads Discrete and Box spaces)")
    }
  }

  /// Python's json module writes the non-standard tokens Infinity, -Infinity and NaN; quote them
  /// (outside strings) so that JSONSerialization accepts the text.
  static func quotingNonFiniteNumbers(_ text: String) -> String {
    var result = ""
    var inString = false
    var escaped = false
    var index = text.startIndex
    while index < text.endIndex {
      let character = text[index]
      if inString {
        result.append(character)
        if escaped { escaped = false } else if character == "\\" { escaped = true } else if character == "\"" { inString = false }
        index = text.index(after: index)
        continue
      }
      if character == "\"" { inString = true }
      var matched = false
      for token in ["-Infinity", "Infinity", "NaN"] where text[index...].hasPrefix(token) {
        result += "\"" + token + "\""
        index = text.index(index, offsetBy: token.count)
        matched = true
        break
      }
      if !matched {
        result.append(character)
        index = text.index(after: index)
      }
    }
    return result
  }

  private static func parseShort(_ text: String, context: String) throws(MTFQIError) -> Space {
    let parts = text.lowercased().split(separator: ":").map(String.init)
    let usage = "expected Minari-style JSON or a short form such as discrete:5, discrete:5:1, box:2, box:3x4, box:2:float32; found '\(text)'"
    guard let kind = parts.first, parts.count >= 2 else { throw MTFQIError.invalidInput("\(context): \(usage)") }
    switch kind {
    case "discrete":
      guard let n = Int64(parts[1]), n > 0, parts.count <= 3 else {
        throw MTFQIError.invalidInput("\(context): \(usage)")
      }
      let start = parts.count == 3 ? Int64(parts[2]) : 0
      guard let start else { throw MTFQIError.invalidInput("\(context): \(usage)") }
      guard !start.addingReportingOverflow(n - 1).overflow else {
        throw MTFQIError.invalidInput("\(context): Discrete space: start \(start) + n \(n) - 1 exceeds the int64 range")
      }
      return .discrete(n: n, start: start)
    case "box":
      let dims = parts[1].split(separator: "x").compactMap { Int($0) }
      guard !dims.isEmpty, dims.allSatisfy({ $0 > 0 }), parts.count <= 3 else {
        throw MTFQIError.invalidInput("\(context): \(usage)")
      }
      var dtype = HDF5ElementType.float64
      if parts.count == 3 {
        switch parts[2] {
        case "float32": dtype = .float32
        case "float64": dtype = .float64
        default: throw MTFQIError.invalidInput("\(context): \(usage)")
        }
      }
      return .box(shape: dims, dtype: dtype, low: nil, high: nil)
    default:
      throw MTFQIError.invalidInput("\(context): \(usage)")
    }
  }
}
