import Foundation
internal import CFastFloat

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
    var header: (roles: [Role], router: TextRowRouter)?
    try scanner.forEachLine { (line, lineNumber) throws(MTFQIError) -> Bool in
      if ParallelLines.isBlank(line) { return true }
      header = try parseHeader(line, lineNumber: lineNumber)
      return false
    }
    guard let header else {
      throw MTFQIError.invalidInput("\(path): the file is empty (expected a header line: \(Self.expectedColumns))")
    }
    let router = header.router
    let parser = CSVLineParser(roles: header.roles)
    try ParallelLines.stream(
      PrefetchingBlockReader(scanner: scanner), firstLine: scanner.lineNumber, parser: parser, router: router
    ) {
      context.reportProgress(file: path, done: stream.rawBytesRead, total: stream.fileSize)
    }
    guard router.dataRows > 0 else {
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
      guard indices.count <= TextSchema.maximumWidth else {
        throw MTFQIError.invalidInput(
          "\(path):\(lineNumber): \(indices.count) \(name)_i columns, more than the limit of \(TextSchema.maximumWidth)")
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
      hasBehaviorProbabilities: seen.contains("behavior_prob"), shapeLine: lineNumber, sha256: { [stream] () throws(MTFQIError) -> String in try stream.sha256() })
    return (roles, router)
  }

}

/// Parses one CSV data line by the header's roles, field by field, without building a field list.
struct CSVLineParser: TextLineParser {
  let roles: [CSVParser.Role]

  var hasCommonPath: Bool { true }

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

  /// Common lines in one pass (CFastFloat's `mtfqi_csv_common_rows`): every field unquoted and
  /// well formed (integers of at most 18 digits, finite numbers, 0/1 flags, no missing
  /// next_obs), each ended by a comma, the last by LF, CRLF or the end of the text, of the task
  /// `task`, and passing the row checks (declared Discrete spaces, behavior_prob in [0, 1]).
  /// Each field is parsed where it starts and must end exactly at its separator. Values go
  /// straight into the next rows of `columns`. Stops before the first line that is anything
  /// else, which the caller cuts and hands to `parse`.
  func parseCommonRows(
    _ text: UnsafeRawBufferPointer, from start: Int, schema: TextSchema, task: String, into columns: TextColumns
  ) -> (next: Int, rows: Int) {
    guard let base = text.baseAddress?.assumingMemoryBound(to: CChar.self), !roles.isEmpty else { return (start, 0) }
    // Rows carry the task of their task column (--task renames it later); without a task
    // column the rows' task is --task (none: an error for `parse` to word).
    // Declared Box bounds are checked on the general path only.
    if TextSchema.hasFiniteBounds(schema.declaredObservation) || TextSchema.hasFiniteBounds(schema.declaredAction) {
      return (start, 0)
    }
    let hasTaskColumn = roles.contains { if case .task = $0 { return true } else { return false } }
    if !hasTaskColumn {
      guard let flag = schema.taskFlag, flag == task else { return (start, 0) }
    }
    // A task column must spell the task with bytes that cannot be a separator or a quote.
    let taskBytes = Array(task.utf8)
    if hasTaskColumn && (taskBytes.isEmpty || taskBytes.contains { $0 == 0x2C || $0 == 0x0A || $0 == 0x0D || $0 == 0x22 }) {
      return (start, 0)
    }
    let observationBounds = TextSchema.integerBounds(schema.declaredObservation)
    let actionBounds = TextSchema.integerBounds(schema.declaredAction)
    func field(
      _ kind: Int32, _ column: UnsafeMutableRawPointer?, _ stride: Int = 1, _ offset: Int = 0,
      _ range: (low: Int64, high: Int64) = (.min, .max)
    ) -> mtfqi_text_field {
      mtfqi_text_field(kind: kind, column: column, stride: stride, offset: offset, low: range.low, high: range.high)
    }
    let integerKind = Int32(MTFQI_FIELD_INTEGER)
    let numberKind = Int32(MTFQI_FIELD_NUMBER)
    return columns.appendCommonRows(from: start, textCount: text.count) { columns in
      roles.map { role in
        switch role {
        case .task: field(Int32(MTFQI_FIELD_TASK), nil)
        case .episode: field(integerKind, columns.episodes)
        case .step: field(integerKind, columns.steps)
        case .reward: field(numberKind, columns.rewards)
        case .behaviorProbability: field(Int32(MTFQI_FIELD_PROBABILITY), columns.behaviorProbabilities)
        case .terminated: field(Int32(MTFQI_FIELD_FLAG), columns.terminations)
        case .truncated: field(Int32(MTFQI_FIELD_FLAG), columns.truncations)
        case .observation(let k):
          columns.observationIsDiscrete
            ? field(integerKind, columns.observationIndices, 1, 0, observationBounds)
            : field(numberKind, columns.observations, columns.observationWidth, k)
        case .nextObservation(let k):
          columns.observationIsDiscrete
            ? field(integerKind, columns.nextObservationIndices, 1, 0, observationBounds)
            : field(numberKind, columns.nextObservations, columns.observationWidth, k)
        case .action(let k):
          columns.actionIsDiscrete
            ? field(integerKind, columns.actionIndices, 1, 0, actionBounds)
            : field(numberKind, columns.actions, columns.actionWidth, k)
        }
      }
    } parse: { fields, position, firstRow, limit in
      taskBytes.withUnsafeBufferPointer { taskBuffer in
        taskBuffer.withMemoryRebound(to: CChar.self) { taskChars in
          mtfqi_csv_common_rows(
            base, text.count, &position, fields, fields.count, taskChars.baseAddress, taskChars.count, firstRow, limit)
        }
      }
    }
  }

  func parse(_ line: UnsafeRawBufferPointer, schema: TextSchema, into row: inout TextRow) throws(RowError) {
    row.task = nil
    row.nextObservationMissing = false
    let discreteObservation = schema.observationIsDiscrete
    let discreteAction = schema.actionIsDiscrete
    let scalarObservation = schema.observationShape == .discrete
    let scalarAction = schema.actionShape == .discrete
    var nextMissingFields = 0
    guard let base = line.baseAddress else {
      throw RowError(field: "(row)", expected: "\(roles.count) fields as in the header", found: "an empty line")
    }
    var position = 0
    var fieldCount = 0
    var quoted: [UInt8] = []
    let count = line.count
    func handle(_ field: UnsafeRawBufferPointer, role: CSVParser.Role) throws(RowError) {
      switch role {
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
          row.observation[k] = try number(field, scalarObservation ? "obs" : "obs_\(k)")
        }
      case .action(let k):
        if discreteAction {
          row.actionIndex = try integer(field, "action")
        } else {
          row.action[k] = try number(field, scalarAction ? "action" : "act_\(k)")
        }
      case .nextObservation(let k):
        if field.isEmpty || (field.count == 3 && (TextParsing.double(field)?.isNaN ?? false)) {
          // Missing (allowed on a terminated row only, checked by `validate`): NaN for a Box; a
          // Discrete row gets its own state as the placeholder once the row is whole.
          nextMissingFields += 1
          if !discreteObservation { row.nextObservation[k] = .nan }
        } else if discreteObservation {
          row.nextObservationIndex = try integer(field, "next_obs")
        } else {
          row.nextObservation[k] = try number(field, scalarObservation ? "next_obs" : "next_obs_\(k)")
        }
      }
    }
    while true {
      // Find the next field: [position, end), quoted fields copied into `quoted`.
      var field: UnsafeRawBufferPointer
      var next: Int
      if position < count && line[position] == UInt8(ascii: "\"") {
        quoted.removeAll(keepingCapacity: true)
        var index = position + 1
        while index < count {
          if line[index] == UInt8(ascii: "\"") {
            if index + 1 < count && line[index + 1] == UInt8(ascii: "\"") {
              quoted.append(UInt8(ascii: "\""))
              index += 2
              continue
            }
            break
          }
          quoted.append(line[index])
          index += 1
        }
        index += 1
        while index < count && line[index] != UInt8(ascii: ",") { index += 1 }
        next = index
        field = UnsafeRawBufferPointer(start: nil, count: 0)
      } else {
        var index = position
        while index < count && line[index] != UInt8(ascii: ",") { index += 1 }
        next = index
        field = UnsafeRawBufferPointer(start: base + position, count: index - position)
      }
      guard fieldCount < roles.count else {
        throw RowError(field: "(row)", expected: "\(roles.count) fields as in the header", found: "more")
      }
      let role = roles[fieldCount]
      fieldCount += 1
      if field.baseAddress == nil && position < count && line[position] == UInt8(ascii: "\"") {
        var failure: RowError?
        quoted.withUnsafeBytes { quotedBytes in
          do throws(RowError) {
            try handle(quotedBytes, role: role)
          } catch {
            failure = error
          }
        }
        if let failure { throw failure }
      } else {
        try handle(field, role: role)
      }
      if next >= count { break }
      position = next + 1
      if position == count {
        // A trailing comma: one more, empty field.
        guard fieldCount < roles.count else {
          throw RowError(field: "(row)", expected: "\(roles.count) fields as in the header", found: "\(fieldCount + 1)")
        }
      }
    }
    guard fieldCount == roles.count else {
      throw RowError(field: "(row)", expected: "\(roles.count) fields as in the header", found: "\(fieldCount)")
    }
    if nextMissingFields > 0 {
      guard nextMissingFields == schema.observationShape.width else {
        throw RowError(
          field: "next_obs", expected: "all next_obs fields present, or all empty on a terminated row",
          found: "\(nextMissingFields) of \(schema.observationShape.width) empty")
      }
      row.nextObservationMissing = true
    }
  }
}
