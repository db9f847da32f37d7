import Foundation

/// A problem with one field of one row: which field, what was expected, what was found.
struct RowError: Error {
  var field: String
  var expected: String
  var found: String
}

/// CSV and JSON Lines transition logs (schemas/csv-columns.md, schemas/transition.schema.json),
/// plain or gzip-compressed, streamed line by line.
enum TextReader {
  enum Kind {
    case csv, jsonl
    var name: String { self == .csv ? "csv" : "jsonl" }
  }

  static func ingest(path: String, kind: Kind, context: IngestContext) throws(MTFQIError) {
    let stream = try ByteStream(path: path)
    let scanner = LineScanner(stream: stream)
    let formatName = kind.name + (stream.isGzip ? "+gzip" : "")
    switch kind {
    case .csv: try CSVParser(path: path, formatName: formatName, context: context, stream: stream).run(scanner)
    case .jsonl: try JSONLParser(path: path, formatName: formatName, context: context, stream: stream).run(scanner)
    }
  }

  /// Handles a bad row: rejected and counted with `--skip-invalid`, otherwise the run's error.
  static func badRow(
    _ error: RowError, path: String, line: Int, task: String?, context: IngestContext, router: TextRowRouter?
  ) throws(MTFQIError) {
    let message = "field '\(error.field)': expected \(error.expected), found \(error.found)"
    guard context.options.skipInvalid, let router else {
      throw MTFQIError.invalidInput("\(path):\(line): \(message)")
    }
    context.reject(file: path, location: "line \(line)", message: message)
    router.countRejected(task: task)
  }

  /// Checks the parts of a row that do not depend on the text format.
  static func validate(_ row: inout TextRow, router: TextRowRouter) throws(RowError) {
    if row.nextObservationMissing && row.terminated == 0 {
      throw RowError(
        field: "next_obs", expected: "a next observation (it may be missing only on a terminated row)",
        found: "none")
    }
    if router.hasBehaviorProbabilities && !(row.behaviorProbability >= 0 && row.behaviorProbability <= 1) {
      throw RowError(field: "behavior_prob", expected: "a probability in [0, 1]", found: "\(row.behaviorProbability)")
    }
    if row.terminated > 1 || row.truncated > 1 {
      throw RowError(field: "terminated", expected: "0 or 1", found: "\(row.terminated)")
    }
    if let problem = router.checkSpaces(row) {
      throw RowError(field: problem.field, expected: problem.expected, found: problem.found)
    }
  }
}

// MARK: - CSV

/// The header decides the columns: episode, step, obs (one Discrete index) or obs_0..obs_{d-1},
/// action or act_0..act_{m-1}, reward, next_obs or next_obs_0.., terminated, truncated, and
/// optionally task and behavior_prob. Fields are separated by commas; a field may be quoted.
struct CSVParser {
  enum Role {
    case task, episode, step, reward, terminated, truncated, behaviorProbability
    case observation(Int), nextObservation(Int), action(Int)
  }

  let path: String
  let formatName: String
  let context: IngestContext
  let stream: ByteStream

  static let expectedColumns =
    "episode, step, obs or obs_0..obs_{d-1}, action or act_0..act_{m-1}, reward, next_obs or next_obs_0.., terminated, truncated; optional task, behavior_prob"

  func run(_ scanner: LineScanner) throws(MTFQIError) {
    var roles: [Role] = []
    var router: TextRowRouter?
    var row = TextRow()
    var fields: [UnsafeRawBufferPointer] = []
    var dataRows = 0
    var unquoted: [[UInt8]] = []
    let skip = context.options.skipInvalid
    try scanner.forEachLine { (line, lineNumber) throws(MTFQIError) -> Bool in
      if line.isEmpty { return true }
      if router == nil {
        let header = try parseHeader(line, lineNumber: lineNumber)
        roles = header.roles
        router = header.router
        row.observation = Array(repeating: 0, count: header.router.observationShape.width)
        row.nextObservation = row.observation
        row.action = Array(repeating: 0, count: header.router.actionShape.width)
        return true
      }
      guard let router else { return false }
      dataRows += 1
      if dataRows & 0xFFFF == 0 {
        context.reportProgress(file: path, done: stream.rawBytesRead, total: stream.fileSize)
      }
      fields.removeAll(keepingCapacity: true)
      unquoted.removeAll(keepingCapacity: true)
      Self.split(line, into: &fields, unquoted: &unquoted)
      guard fields.count == roles.count else {
        let error = RowError(
          field: "(row)", expected: "\(roles.count) fields as in the header", found: "\(fields.count)")
        try TextReader.badRow(error, path: path, line: lineNumber, task: nil, context: context, router: skip ? router : nil)
        return true
      }
      do throws(RowError) {
        try parseRow(fields, roles: roles, router: router, into: &row)
        try TextReader.validate(&row, router: router)
      } catch {
        try TextReader.badRow(error, path: path, line: lineNumber, task: row.task, context: context, router: router)
        return true
      }
      let task = try context.resolveTask(recordTask: row.task, file: path, location: "\(lineNumber)")
      try router.append(row, task: task, line: lineNumber)
      return true
    }
    guard let router else {
      throw MTFQIError.invalidInput("\(path): the file is empty (expected a header line: \(Self.expectedColumns))")
    }
    guard dataRows > 0 else {
      throw MTFQIError.invalidInput("\(path): the file has a header but no data rows")
    }
    try router.finish()
  }

  /// Splits a line at commas; a field that starts with '"' runs to the closing quote ("" is a
  /// literal quote; such fields are copied into `unquoted`).
  static func split(_ line: UnsafeRawBufferPointer, into fields: inout [UnsafeRawBufferPointer], unquoted: inout [[UInt8]]) {
    guard let base = line.baseAddress else {
      fields.append(line)
      return
    }
    var start = 0
    let count = line.count
    while true {
      if start < count && line[start] == UInt8(ascii: "\"") {
        var text: [UInt8] = []
        var index = start + 1
        while index < count {
          if line[index] == UInt8(ascii: "\"") {
            if index + 1 < count && line[index + 1] == UInt8(ascii: "\"") {
              text.append(UInt8(ascii: "\""))
              index += 2
              continue
            }
            break
          }
          text.append(line[index])
          index += 1
        }
        unquoted.append(text)
        let stored = unquoted[unquoted.count - 1]
        fields.append(stored.withUnsafeBytes { $0 })  // valid while `unquoted` is not mutated for this line
        index += 1  // closing quote
        if index >= count { return }
        start = index + 1  // skip the comma (anything between quote and comma is ignored)
        if start > count { return }
        continue
      }
      if let comma = memchr(base + start, Int32(UInt8(ascii: ",")), count - start) {
        let end = UnsafeRawPointer(comma) - base
        fields.append(UnsafeRawBufferPointer(start: base + start, count: end - start))
        start = end + 1
      } else {
        fields.append(UnsafeRawBufferPointer(start: base + start, count: count - start))
        return
      }
    }
  }

  private func parseHeader(_ line: UnsafeRawBufferPointer, lineNumber: Int) throws(MTFQIError) -> (roles: [Role], router: TextRowRouter) {
    var fields: [UnsafeRawBufferPointer] = []
    var unquoted: [[UInt8]] = []
    Self.split(line, into: &fields, unquoted: &unquoted)
    var names = fields.map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespaces) }
    if let first = names.first, first.hasPrefix("\u{FEFF}") { names[0] = String(first.dropFirst()) }
    var roles: [Role] = []
    var seen = Set<String>()
    var observationIndices: [Int] = []
    var nextObservationIndices: [Int] = []
    var actionIndices: [Int] = []
    var scalarObservation = false
    var scalarNextObservation = false
    var scalarAction = false
    func indexed(_ name: String, _ prefixes: [String]) -> Int? {
      for prefix in prefixes where name.hasPrefix(prefix) {
        if let index = Int(name.dropFirst(prefix.count)), index >= 0 { return index }
      }
      return nil
    }
    for name in names {
      guard seen.insert(name).inserted else {
        throw MTFQIError.invalidInput("\(path):\(lineNumber): the header names column '\(name)' twice")
      }
      switch name {
      case "task": roles.append(.task)
      case "episode": roles.append(.episode)
      case "step": roles.append(.step)
      case "reward": roles.append(.reward)
      case "terminated": roles.append(.terminated)
      case "truncated": roles.append(.truncated)
      case "behavior_prob": roles.append(.behaviorProbability)
      case "obs": roles.append(.observation(0)); scalarObservation = true
      case "next_obs": roles.append(.nextObservation(0)); scalarNextObservation = true
      case "action": roles.append(.action(0)); scalarAction = true
      default:
        if let index = indexed(name, ["next_obs_"]) {
          roles.append(.nextObservation(index)); nextObservationIndices.append(index)
        } else if let index = indexed(name, ["obs_"]) {
          roles.append(.observation(index)); observationIndices.append(index)
        } else if let index = indexed(name, ["act_", "action_"]) {
          roles.append(.action(index)); actionIndices.append(index)
        } else {
          throw MTFQIError.invalidInput(
            "\(path):\(lineNumber): unknown column '\(name)' in the header (expected \(Self.expectedColumns))")
        }
      }
    }
    for required in ["episode", "step", "reward", "terminated", "truncated"] where !seen.contains(required) {
      throw MTFQIError.invalidInput(
        "\(path):\(lineNumber): the header has no '\(required)' column (expected \(Self.expectedColumns))")
    }
    func shape(_ scalar: Bool, _ indices: [Int], _ name: String) throws(MTFQIError) -> TextColumnShape {
      if scalar && !indices.isEmpty {
        throw MTFQIError.invalidInput(
          "\(path):\(lineNumber): the header has both '\(name)' and '\(name)_0'...; use one form")
      }
      if scalar { return .discrete }
      guard !indices.isEmpty else {
        throw MTFQIError.invalidInput(
          "\(path):\(lineNumber): the header has no '\(name)' column (expected \(Self.expectedColumns))")
      }
      let sorted = indices.sorted()
      guard sorted == Array(0..<sorted.count) else {
        throw MTFQIError.invalidInput(
          "\(path):\(lineNumber): columns \(name)_0..\(name)_\(sorted.count - 1) expected, found indices \(sorted)")
      }
      return .box(width: sorted.count)
    }
    let observation = try shape(scalarObservation, observationIndices, "obs")
    let nextObservation = try shape(scalarNextObservation, nextObservationIndices, "next_obs")
    guard observation == nextObservation else {
      throw MTFQIError.invalidInput(
        "\(path):\(lineNumber): the next_obs columns do not match the obs columns (\(observation.width) vs \(nextObservation.width))")
    }
    let action = try shape(scalarAction, actionIndices, "action")
    let router = try TextRowRouter(
      path: path, formatName: formatName, context: context, observation: observation, action: action,
      hasBehaviorProbabilities: seen.contains("behavior_prob"), sha256: { [stream] () throws(MTFQIError) -> String in try stream.sha256() })
    return (roles, router)
  }

  @inline(__always)
  private func number(_ field: UnsafeRawBufferPointer, _ name: @autoclosure () -> String) throws(RowError) -> Double {
    guard let value = TextParsing.double(field), value.isFinite else {
      throw RowError(field: name(), expected: "a finite number", found: TextParsing.show(field))
    }
    return value
  }

  @inline(__always)
  private func integer(_ field: UnsafeRawBufferPointer, _ name: @autoclosure () -> String) throws(RowError) -> Int64 {
    guard let value = TextParsing.integer(field) else {
      throw RowError(field: name(), expected: "an integer", found: TextParsing.show(field))
    }
    return value
  }

  private func parseRow(
    _ fields: [UnsafeRawBufferPointer], roles: [Role], router: TextRowRouter, into row: inout TextRow
  ) throws(RowError) {
    row.task = nil
    row.nextObservationMissing = false
    let discreteObservation = router.observationIsDiscrete
    let discreteAction = router.actionIsDiscrete
    var nextMissingFields = 0
    for index in 0..<fields.count {
      let field = fields[index]
      switch roles[index] {
      case .task:
        guard !field.isEmpty else { throw RowError(field: "task", expected: "a task name", found: "an empty field") }
        row.task = String(decoding: field, as: UTF8.self)
      case .episode: row.episode = try integer(field, "episode")
      case .step: row.step = try integer(field, "step")
      case .reward: row.reward = try number(field, "reward")
      case .terminated:
        guard let flag = TextParsing.flag(field) else {
          throw RowError(field: "terminated", expected: "0, 1, true or false", found: TextParsing.show(field))
        }
        row.terminated = flag
      case .truncated:
        guard let flag = TextParsing.flag(field) else {
          throw RowError(field: "truncated", expected: "0, 1, true or false", found: TextParsing.show(field))
        }
        row.truncated = flag
      case .behaviorProbability: row.behaviorProbability = try number(field, "behavior_prob")
      case .observation(let k):
        if discreteObservation {
          row.observationIndex = try integer(field, "obs")
        } else {
          row.observation[k] = try number(field, router.observationShape == .discrete ? "obs" : "obs_\(k)")
        }
      case .action(let k):
        if discreteAction {
          row.actionIndex = try integer(field, "action")
        } else {
          row.action[k] = try number(field, router.actionShape == .discrete ? "action" : "act_\(k)")
        }
      case .nextObservation(let k):
        let name = router.observationShape == .discrete ? "next_obs" : "next_obs_\(k)"
        if field.isEmpty || (TextParsing.double(field)?.isNaN ?? false) {
          nextMissingFields += 1
          if discreteObservation {
            throw RowError(field: name, expected: "an integer (a Discrete next observation cannot be missing)", found: TextParsing.show(field))
          }
          row.nextObservation[k] = .nan
        } else if discreteObservation {
          row.nextObservationIndex = try integer(field, name)
        } else {
          row.nextObservation[k] = try number(field, name)
        }
      }
    }
    if nextMissingFields > 0 {
      guard nextMissingFields == router.observationShape.width else {
        throw RowError(field: "next_obs", expected: "all next_obs fields present, or all empty on a terminated row", found: "\(nextMissingFields) of \(router.observationShape.width) empty")
      }
      row.nextObservationMissing = true
    }
  }
}
