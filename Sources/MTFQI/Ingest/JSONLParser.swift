import Foundation
internal import CFastFloat

/// JSON Lines: one object per line with the fields of schemas/transition.schema.json:
/// task (string, optional), episode and step (integers), obs and next_obs (an integer for a
/// Discrete observation, or an array of numbers; next_obs may be null on a terminated row),
/// action (integer or array of numbers), reward (number), terminated and truncated (booleans,
/// or 0/1), behavior_prob (number, optional). Blank lines are skipped; unknown fields are errors.
struct JSONLParser {
  let path: String
  let formatName: String
  let context: IngestContext
  let stream: ByteStream

  /// The shape of obs/action, fixed by the file's first record.
  enum Value {
    case number
    case array(Int)
  }

  func run(_ scanner: LineScanner) throws(MTFQIError) {
    // The first record fixes the shapes of obs and action for the file.
    var router: TextRowRouter?
    var firstLine: [UInt8] = []
    var firstLineNumber = 0
    try scanner.forEachLine { (whole, lineNumber) throws(MTFQIError) -> Bool in
      // A UTF-8 byte order mark before the first record is allowed (as in CSV).
      let line =
        lineNumber == 1 && whole.starts(with: [0xEF, 0xBB, 0xBF])
        ? UnsafeRawBufferPointer(rebasing: whole[3...]) : whole
      if ParallelLines.isBlank(line) { return true }
      var probe = JSONCursor(line)
      let shapes: (observation: TextColumnShape, action: TextColumnShape, behavior: Bool)
      do throws(RowError) {
        shapes = try Self.probeShapes(&probe)
      } catch {
        throw MTFQIError.invalidInput(
          "\(path):\(lineNumber): field '\(error.field)': expected \(error.expected), found \(error.found)")
      }
      router = try TextRowRouter(
        path: path, formatName: formatName, context: context, observation: shapes.observation,
        action: shapes.action, hasBehaviorProbabilities: shapes.behavior, shapeLine: lineNumber,
        sha256: { [stream] () throws(MTFQIError) -> String in try stream.sha256() })
      firstLine = Array(line)
      firstLineNumber = lineNumber
      return false
    }
    guard let router else {
      throw MTFQIError.invalidInput("\(path): the file holds no records (expected one JSON object per line)")
    }
    let parser = JSONLLineParser()
    let firstParsed = firstLine.withUnsafeBytes { bytes in
      ParallelLines.parse(bytes, firstLine: firstLineNumber - 1, parser: parser, schema: router.schema)
    }
    try router.absorb(firstParsed)
    try ParallelLines.stream(
      PrefetchingBlockReader(scanner: scanner), firstLine: scanner.lineNumber, parser: parser, router: router
    ) {
      context.reportProgress(file: path, done: stream.rawBytesRead, total: stream.fileSize)
    }
    try router.finish()
  }

  static func probeShapes(_ cursor: inout JSONCursor) throws(RowError) -> (observation: TextColumnShape, action: TextColumnShape, behavior: Bool) {
    var observation: TextColumnShape?
    var action: TextColumnShape?
    var behavior = false
    try cursor.expect(UInt8(ascii: "{"), field: "(record)", what: "a JSON object")
    cursor.skipWhitespace()
    if cursor.peek == UInt8(ascii: "}") {
      throw RowError(field: "(record)", expected: "the transition fields", found: "an empty object")
    }
    while true {
      cursor.skipWhitespace()
      let key = try cursor.string(field: "(key)")
      cursor.skipWhitespace()
      try cursor.expect(UInt8(ascii: ":"), field: key, what: "':'")
      cursor.skipWhitespace()
      switch key {
      case "obs", "action":
        let shape: TextColumnShape
        if cursor.peek == UInt8(ascii: "[") {
          var values: [Double] = []
          try cursor.numberArray(into: &values, field: key)
          shape = .box(width: values.count)
        } else {
          _ = try cursor.number(field: key)
          shape = .discrete
        }
        if key == "obs" { observation = shape } else { action = shape }
      case "behavior_prob":
        behavior = true
        try cursor.skipValue(field: key)
      default:
        try cursor.skipValue(field: key)
      }
      cursor.skipWhitespace()
      if cursor.peek == UInt8(ascii: ",") {
        cursor.advance()
        continue
      }
      try cursor.expect(UInt8(ascii: "}"), field: key, what: "',' or '}'")
      break
    }
    guard let observation else { throw RowError(field: "obs", expected: "a value", found: "no such field") }
    guard let action else { throw RowError(field: "action", expected: "a value", found: "no such field") }
    return (observation, action, behavior)
  }

}

/// Parses one JSON Lines record.
struct JSONLLineParser: TextLineParser {
  var hasCommonPath: Bool { true }

  /// Common records in one pass (CFastFloat's `mtfqi_jsonl_common_rows`): one object per line
  /// with plainly spelled keys, each once, in any order, numbers and flags well formed, the
  /// task (when given) exactly `task` in plain quotes or, when `task` is spelled as a JSON
  /// integer, those digits bare (an integer task id), no null next_obs, and passing the row
  /// checks (declared Discrete spaces, behavior_prob in [0, 1], the task against --task).
  /// Values go straight into the next rows of `columns`. Stops before the first line that is
  /// anything else, which the caller cuts and hands to `parse`.
  func parseCommonRows(
    _ text: UnsafeRawBufferPointer, from start: Int, schema: TextSchema, task: String, into columns: TextColumns
  ) -> (next: Int, rows: Int) {
    guard let base = text.baseAddress?.assumingMemoryBound(to: CChar.self) else { return (start, 0) }
    // A record without a task takes --task, so it belongs here only when `task` is --task's
    // (a record's own task is renamed later, by the router). A name with a quote or backslash
    // needs the general string decoding.
    let taskBytes = Array(task.utf8)
    guard !taskBytes.isEmpty, !taskBytes.contains(0x22), !taskBytes.contains(0x5C) else { return (start, 0) }
    // Declared Box bounds are checked on the general path only.
    if TextSchema.hasFiniteBounds(schema.declaredObservation) || TextSchema.hasFiniteBounds(schema.declaredAction) {
      return (start, 0)
    }
    let taskOptional = schema.taskFlag == task
    let observationBounds = TextSchema.integerBounds(schema.declaredObservation)
    let actionBounds = TextSchema.integerBounds(schema.declaredAction)
    let absent = mtfqi_text_field(kind: Int32(MTFQI_FIELD_ABSENT), column: nil, stride: 0, offset: 0, low: 0, high: 0)
    func field(
      _ kind: Int32, _ column: UnsafeMutableRawPointer?, stride: Int = 1, _ range: (low: Int64, high: Int64) = (.min, .max)
    ) -> mtfqi_text_field {
      mtfqi_text_field(kind: kind, column: column, stride: stride, offset: 0, low: range.low, high: range.high)
    }
    func vector(_ column: UnsafeMutableRawPointer, width: Int, scalarAllowed: Bool) -> mtfqi_text_field {
      field(Int32(scalarAllowed ? MTFQI_FIELD_VECTOR_OR_NUMBER : MTFQI_FIELD_VECTOR), column, stride: width)
    }
    let integer = Int32(MTFQI_FIELD_INTEGER)
    let observationScalar = schema.observationShape == .discrete
    return columns.appendCommonRows(from: start, textCount: text.count) { columns in
      var fields = [mtfqi_text_field](repeating: absent, count: Int(MTFQI_KEY_COUNT))
      fields[Int(MTFQI_KEY_TASK)] = field(Int32(MTFQI_FIELD_TASK), nil)
      fields[Int(MTFQI_KEY_EPISODE)] = field(integer, columns.episodes)
      fields[Int(MTFQI_KEY_STEP)] = field(integer, columns.steps)
      fields[Int(MTFQI_KEY_OBS)] =
        columns.observationIsDiscrete
        ? field(integer, columns.observationIndices, observationBounds)
        : vector(columns.observations, width: columns.observationWidth, scalarAllowed: observationScalar)
      fields[Int(MTFQI_KEY_NEXT_OBS)] =
        columns.observationIsDiscrete
        ? field(integer, columns.nextObservationIndices, observationBounds)
        : vector(columns.nextObservations, width: columns.observationWidth, scalarAllowed: observationScalar)
      fields[Int(MTFQI_KEY_ACTION)] =
        columns.actionIsDiscrete
        ? field(integer, columns.actionIndices, actionBounds)
        : vector(columns.actions, width: columns.actionWidth, scalarAllowed: schema.actionShape == .discrete)
      fields[Int(MTFQI_KEY_REWARD)] = field(Int32(MTFQI_FIELD_NUMBER), columns.rewards)
      fields[Int(MTFQI_KEY_TERMINATED)] = field(Int32(MTFQI_FIELD_FLAG), columns.terminations)
      fields[Int(MTFQI_KEY_TRUNCATED)] = field(Int32(MTFQI_FIELD_FLAG), columns.truncations)
      fields[Int(MTFQI_KEY_BEHAVIOR_PROB)] =
        schema.hasBehaviorProbabilities ? field(Int32(MTFQI_FIELD_PROBABILITY), columns.behaviorProbabilities) : absent
      return fields
    } parse: { fields, position, firstRow, limit in
      taskBytes.withUnsafeBufferPointer { taskBuffer in
        taskBuffer.withMemoryRebound(to: CChar.self) { taskChars in
          mtfqi_jsonl_common_rows(
            base, text.count, &position, fields, taskChars.baseAddress, taskChars.count, taskOptional ? 1 : 0,
            firstRow, limit)
        }
      }
    }
  }

  func parse(_ line: UnsafeRawBufferPointer, schema router: TextSchema, into row: inout TextRow) throws(RowError) {
    var cursor = JSONCursor(line)
    cursor.skipWhitespace()
    // row.task keeps the previous record's task until this record's task field is read (a
    // repeated name is then kept, not made again); a record without one, or that fails before
    // it, must not keep it: `sawTask` says which.
    var sawTask = false
    do throws(RowError) {
      try parseFields(&cursor, schema: router, into: &row, sawTask: &sawTask)
    } catch {
      if !sawTask { row.task = nil }
      throw error
    }
    if !sawTask { row.task = nil }
  }

  @inline(__always)
  private func parseFields(
    _ cursor: inout JSONCursor, schema router: TextSchema, into row: inout TextRow, sawTask: inout Bool
  ) throws(RowError) {
    row.nextObservationMissing = false
    var seen: UInt16 = 0
    let required: UInt16 = 0b1_1111_1110  // every bit but task and behavior_prob
    try cursor.expect(UInt8(ascii: "{"), field: "(record)", what: "a JSON object")
    cursor.skipWhitespace()
    if cursor.peek != UInt8(ascii: "}") {
      while true {
        cursor.skipWhitespace()
        let key = try cursor.key()
        cursor.skipWhitespace()
        try cursor.expect(UInt8(ascii: ":"), field: key.name, what: "':'")
        cursor.skipWhitespace()
        let bit: UInt16
        switch key {
        case .task:
          bit = 1 << 0
          if !cursor.skipString(equalTo: row.task) { row.task = try cursor.taskID() }
          sawTask = true
        case .episode:
          bit = 1 << 1
          row.episode = try cursor.integer(field: "episode")
        case .step:
          bit = 1 << 2
          row.step = try cursor.integer(field: "step")
        case .obs:
          bit = 1 << 3
          if router.observationIsDiscrete {
            row.observationIndex = try cursor.integer(field: "obs")
          } else {
            try cursor.vector(into: &row.observation, field: "obs", scalarAllowed: router.observationShape == .discrete)
          }
        case .action:
          bit = 1 << 4
          if router.actionIsDiscrete {
            row.actionIndex = try cursor.integer(field: "action")
          } else {
            try cursor.vector(into: &row.action, field: "action", scalarAllowed: router.actionShape == .discrete)
          }
        case .reward:
          bit = 1 << 5
          row.reward = try cursor.finiteNumber(field: "reward")
        case .nextObs:
          bit = 1 << 6
          if cursor.peekLiteral("null") {
            cursor.index += 4  // past the literal, so the ',' or '}' after it is read next
            row.nextObservationMissing = true
            // A Discrete row gets its own state as the placeholder once the row is whole.
            for k in row.nextObservation.indices { row.nextObservation[k] = .nan }
          } else if router.observationIsDiscrete {
            row.nextObservationIndex = try cursor.integer(field: "next_obs")
          } else {
            try cursor.vector(into: &row.nextObservation, field: "next_obs", scalarAllowed: router.observationShape == .discrete)
          }
        case .terminated:
          bit = 1 << 7
          row.terminated = try cursor.flag(field: "terminated")
        case .truncated:
          bit = 1 << 8
          row.truncated = try cursor.flag(field: "truncated")
        case .behaviorProb:
          bit = 1 << 9
          row.behaviorProbability = try cursor.finiteNumber(field: "behavior_prob")
        }
        if seen & bit != 0 { throw RowError(field: key.name, expected: "one value", found: "the field twice") }
        seen |= bit
        cursor.skipWhitespace()
        if cursor.peek == UInt8(ascii: ",") {
          cursor.advance()
          continue
        }
        try cursor.expect(UInt8(ascii: "}"), field: key.name, what: "',' or '}'")
        break
      }
    } else {
      cursor.advance()
    }
    cursor.skipWhitespace()
    if !cursor.atEnd {
      throw RowError(field: "(record)", expected: "the end of the line after the object", found: "more text")
    }
    if seen & required != required {
      let names = ["task", "episode", "step", "obs", "action", "reward", "next_obs", "terminated", "truncated"]
      let missing = (1..<9).first { (index: Int) -> Bool in seen & (UInt16(1) << UInt16(index)) == 0 } ?? 1
      throw RowError(field: names[missing], expected: "a value", found: "no such field")
    }
    if router.hasBehaviorProbabilities && seen & (1 << 9) == 0 {
      throw RowError(field: "behavior_prob", expected: "a value (the file's first record has one)", found: "no such field")
    }
    if !router.hasBehaviorProbabilities && seen & (1 << 9) != 0 {
      throw RowError(field: "behavior_prob", expected: "no value (the file's first record has none)", found: "a value")
    }
  }
}

/// A cursor over one line of JSON, with just what the transition records need. Strings may
/// contain escapes; numbers are parsed with correct rounding.
struct JSONCursor {
  enum Key {
    case task, episode, step, obs, action, reward, nextObs, terminated, truncated, behaviorProb
    var name: String {
      switch self {
      case .task: "task"
      case .episode: "episode"
      case .step: "step"
      case .obs: "obs"
      case .action: "action"
      case .reward: "reward"
      case .nextObs: "next_obs"
      case .terminated: "terminated"
      case .truncated: "truncated"
      case .behaviorProb: "behavior_prob"
      }
    }
  }

  let bytes: UnsafeRawBufferPointer
  var index = 0

  init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

  var atEnd: Bool { index >= bytes.count }
  var peek: UInt8 { index < bytes.count ? bytes[index] : 0 }
  mutating func advance() { index += 1 }

  @inline(__always)
  mutating func skipWhitespace() {
    while index < bytes.count {
      let byte = bytes[index]
      guard byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A else { return }
      index += 1
    }
  }

  func foundHere() -> String {
    if atEnd { return "the end of the line" }
    return TextParsing.show(UnsafeRawBufferPointer(rebasing: bytes[index..<min(bytes.count, index + 20)]))
  }

  @inline(__always)
  mutating func expect(_ byte: UInt8, field: @autoclosure () -> String, what: @autoclosure () -> String) throws(RowError) {
    guard index < bytes.count, bytes[index] == byte else { throw RowError(field: field(), expected: what(), found: foundHere()) }
    index += 1
  }

  @inline(__always)
  static func equals(_ raw: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
    literal.utf8CodeUnitCount == raw.count && memcmp(raw.baseAddress!, literal.utf8Start, raw.count) == 0
  }

  /// Reads an object key, recognising the schema's names without building a String. The first
  /// letter tells which name it can be; the name's bytes and the closing quote after them are
  /// then checked in place. Anything else (escapes, unknown names) takes `anyKey`.
  @inline(__always)
  mutating func key() throws(RowError) -> Key {
    let start = index + 1
    guard start < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return try anyKey() }
    let candidate: (key: Key, name: StaticString)
    switch bytes[start] {
    case UInt8(ascii: "o"): candidate = (.obs, "obs")
    case UInt8(ascii: "a"): candidate = (.action, "action")
    case UInt8(ascii: "r"): candidate = (.reward, "reward")
    case UInt8(ascii: "e"): candidate = (.episode, "episode")
    case UInt8(ascii: "s"): candidate = (.step, "step")
    case UInt8(ascii: "n"): candidate = (.nextObs, "next_obs")
    case UInt8(ascii: "b"): candidate = (.behaviorProb, "behavior_prob")
    case UInt8(ascii: "t"):
      guard start + 1 < bytes.count else { return try anyKey() }
      switch bytes[start + 1] {
      case UInt8(ascii: "a"): candidate = (.task, "task")
      case UInt8(ascii: "e"): candidate = (.terminated, "terminated")
      default: candidate = (.truncated, "truncated")
      }
    default: return try anyKey()
    }
    let length = candidate.name.utf8CodeUnitCount
    guard start + length < bytes.count, bytes[start + length] == UInt8(ascii: "\""),
      Self.equals(UnsafeRawBufferPointer(rebasing: bytes[start..<(start + length)]), candidate.name)
    else { return try anyKey() }
    index = start + length + 1
    return candidate.key
  }

  /// Reads any object key: the schema's names, or an error naming the unknown field.
  mutating func anyKey() throws(RowError) -> Key {
    guard peek == UInt8(ascii: "\"") else { throw RowError(field: "(key)", expected: "a quoted field name", found: foundHere()) }
    let start = index + 1
    var end = start
    while end < bytes.count && bytes[end] != UInt8(ascii: "\"") && bytes[end] != UInt8(ascii: "\\") { end += 1 }
    if end < bytes.count && bytes[end] == UInt8(ascii: "\"") {
      let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
      index = end + 1
      switch raw.count {
      case 3 where Self.equals(raw, "obs"): return .obs
      case 4 where Self.equals(raw, "task"): return .task
      case 4 where Self.equals(raw, "step"): return .step
      case 6 where Self.equals(raw, "action"): return .action
      case 6 where Self.equals(raw, "reward"): return .reward
      case 7 where Self.equals(raw, "episode"): return .episode
      case 8 where Self.equals(raw, "next_obs"): return .nextObs
      case 9 where Self.equals(raw, "truncated"): return .truncated
      case 10 where Self.equals(raw, "terminated"): return .terminated
      case 13 where Self.equals(raw, "behavior_prob"): return .behaviorProb
      default: throw Self.unknownField(String(decoding: raw, as: UTF8.self))
      }
    }
    throw Self.unknownField(try string(field: "(key)"))
  }

  static func unknownField(_ name: String) -> RowError {
    RowError(
      field: name,
      expected: "only the fields task, episode, step, obs, action, reward, next_obs, terminated, truncated, behavior_prob",
      found: "an unknown field")
  }

  /// Skips the JSON string here when its value is `expected`, spelled plainly (so a task name
  /// repeated on every line is not made into a new String each time); false, and nothing
  /// skipped, otherwise.
  @inline(__always)
  mutating func skipString(equalTo expected: String?) -> Bool {
    guard var expected, peek == UInt8(ascii: "\"") else { return false }
    let start = index + 1
    let matches = expected.withUTF8 { utf8 -> Bool in
      let end = start + utf8.count
      guard end < bytes.count, bytes[end] == UInt8(ascii: "\""), let text = bytes.baseAddress, let name = utf8.baseAddress
      else { return false }
      // Equal bytes with no quote or backslash among them are a plain JSON string whose value
      // is exactly `expected` (a name with either goes the general way).
      return memcmp(text + start, name, utf8.count) == 0 && memchr(name, 0x5C, utf8.count) == nil
        && memchr(name, 0x22, utf8.count) == nil
    }
    if matches { index = start + expected.utf8.count + 1 }
    return matches
  }

  /// A task id: a JSON string, or a JSON integer named by its characters as written (the name
  /// the same characters in a CSV task column give: `"task": 7`, `"task": "7"` and a CSV `7`
  /// all feed task `7`; JSON writes no leading zeros or '+'). Fractions, exponents, booleans
  /// and null are refused.
  mutating func taskID() throws(RowError) -> String {
    if peek == UInt8(ascii: "\"") { return try string(field: "task") }
    let start = index
    var position = index
    if position < bytes.count && bytes[position] == UInt8(ascii: "-") { position += 1 }
    let digitsStart = position
    while position < bytes.count && bytes[position] >= UInt8(ascii: "0") && bytes[position] <= UInt8(ascii: "9") {
      position += 1
    }
    let digits = position - digitsStart
    let wellFormed =
      digits > 0 && (digits == 1 || bytes[digitsStart] != UInt8(ascii: "0"))
      && (position == bytes.count || Self.endsValue(bytes[position]))
    guard wellFormed else {
      let token = numberToken()
      let shown = token.isEmpty ? foundHere() : TextParsing.show(token)
      index = start
      throw RowError(field: "task", expected: "a string or an integer", found: shown)
    }
    index = position
    return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
  }

  /// A JSON string with escapes decoded.
  mutating func string(field: String) throws(RowError) -> String {
    guard peek == UInt8(ascii: "\"") else { throw RowError(field: field, expected: "a string", found: foundHere()) }
    index += 1
    var out: [UInt8] = []
    while index < bytes.count {
      let byte = bytes[index]
      if byte == UInt8(ascii: "\"") {
        index += 1
        return String(decoding: out, as: UTF8.self)
      }
      if byte == UInt8(ascii: "\\") {
        index += 1
        guard index < bytes.count else { break }
        let escape = bytes[index]
        index += 1
        switch escape {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "u"):
          guard index + 4 <= bytes.count,
            let code = UInt32(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[index..<(index + 4)]), as: UTF8.self), radix: 16),
            let scalar = Unicode.Scalar(code)
          else { throw RowError(field: field, expected: "a valid \\u escape", found: foundHere()) }
          out.append(contentsOf: Array(String(Character(scalar)).utf8))
          index += 4
        default: throw RowError(field: field, expected: "a valid escape", found: "\\\(Character(Unicode.Scalar(escape)))")
        }
        continue
      }
      out.append(byte)
      index += 1
    }
    throw RowError(field: field, expected: "a closing quote", found: "the end of the line")
  }

  /// The extent of a JSON number token.
  @inline(__always)
  mutating func numberToken() -> UnsafeRawBufferPointer {
    let start = index
    while index < bytes.count {
      let byte = bytes[index]
      let isNumberByte =
        (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+")
        || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
      guard isNumberByte else { break }
      index += 1
    }
    return UnsafeRawBufferPointer(rebasing: bytes[start..<index])
  }

  mutating func number(field: String) throws(RowError) -> Double {
    let start = index
    let token = numberToken()
    let first = (bytes.baseAddress! + start).assumingMemoryBound(to: CChar.self)
    guard mtfqi_json_number_length(first, first + token.count) == token.count, let value = TextParsing.double(token)
    else {
      throw RowError(field: field, expected: "a number", found: token.isEmpty ? foundHere() : TextParsing.show(token))
    }
    return value
  }

  /// Whether the byte may follow a value inside a record.
  @inline(__always)
  static func endsValue(_ byte: UInt8) -> Bool {
    byte == UInt8(ascii: ",") || byte == UInt8(ascii: "]") || byte == UInt8(ascii: "}") || byte == 0x20 || byte == 0x09
  }

  /// A finite number parsed in place (fast_float stops at the first byte that is not part of
  /// the number; that byte must end the value).
  @inline(__always)
  mutating func finiteNumber(field: @autoclosure () -> String) throws(RowError) -> Double {
    var value = 0.0
    let first = (bytes.baseAddress! + index).assumingMemoryBound(to: CChar.self)
    let consumed = index < bytes.count ? mtfqi_parse_double(first, first + (bytes.count - index), &value) : 0
    // RFC 8259 numbers only: fast_float also takes "01", "+1", "1.", ".5".
    if consumed > 0 && mtfqi_json_number_length(first, first + (bytes.count - index)) == consumed && value.isFinite && (index + consumed == bytes.count || Self.endsValue(bytes[index + consumed])) {
      index += consumed
      return value
    }
    let start = index
    let token = numberToken()
    let shown = token.isEmpty ? foundHere() : TextParsing.show(token)
    index = start
    throw RowError(field: field(), expected: "a finite number", found: shown)
  }

  /// An integer parsed in place: optional '-', digits, no overflow, then the end of the value.
  @inline(__always)
  mutating func integer(field: @autoclosure () -> String) throws(RowError) -> Int64 {
    let start = index
    var negative = false
    if index < bytes.count && bytes[index] == UInt8(ascii: "-") {
      negative = true
      index += 1
    }
    // Accumulated negatively, so that int64 min (-9223372036854775808) is an integer.
    var value: Int64 = 0
    var digits = 0
    var overflow = false
    let firstDigit = index
    while index < bytes.count {
      let digit = Int64(bytes[index]) &- 48
      guard digit >= 0 && digit <= 9 else { break }
      let (times, o1) = value.multipliedReportingOverflow(by: 10)
      let (sum, o2) = times.subtractingReportingOverflow(digit)
      overflow = overflow || o1 || o2
      value = sum
      digits += 1
      index += 1
    }
    // No leading zero (RFC 8259): "01" is not a JSON number.
    let leadingZero = digits > 1 && bytes[firstDigit] == UInt8(ascii: "0")
    if !negative {
      let (positive, o3) = value.multipliedReportingOverflow(by: -1)
      overflow = overflow || o3
      value = positive
    }
    if digits > 0 && !overflow && !leadingZero && (index == bytes.count || Self.endsValue(bytes[index])) {
      return value
    }
    index = start
    let token = numberToken()
    let shown = token.isEmpty ? foundHere() : TextParsing.show(token)
    index = start
    throw RowError(field: field(), expected: "an integer", found: shown)
  }

  func peekLiteral(_ literal: StaticString) -> Bool {
    let count = literal.utf8CodeUnitCount
    guard index + count <= bytes.count else { return false }
    return memcmp(bytes.baseAddress! + index, literal.utf8Start, count) == 0
  }

  mutating func flag(field: String) throws(RowError) -> UInt8 {
    if peekLiteral("true") { index += 4; return 1 }
    if peekLiteral("false") { index += 5; return 0 }
    if peek == UInt8(ascii: "0") || peek == UInt8(ascii: "1") {
      let token = numberToken()
      if token.count == 1 { return token[0] == UInt8(ascii: "1") ? 1 : 0 }
      index -= token.count
    }
    throw RowError(field: field, expected: "true or false", found: foundHere())
  }

  /// A number array of exactly `values.count` finite numbers (a bare number when `scalarAllowed`
  /// and the width is 1).
  @inline(__always)
  mutating func vector(into values: inout [Double], field: String, scalarAllowed: Bool) throws(RowError) {
    if peek != UInt8(ascii: "[") {
      if scalarAllowed && values.count == 1 {
        values[0] = try finiteNumber(field: field)
        return
      }
      throw RowError(field: field, expected: "an array of \(values.count) numbers", found: foundHere())
    }
    index += 1
    var count = 0
    skipWhitespace()
    if peek == UInt8(ascii: "]") {
      index += 1
    } else {
      while true {
        skipWhitespace()
        let value = try finiteNumber(field: "\(field)[\(count)]")
        if count < values.count { values[count] = value }
        count += 1
        skipWhitespace()
        if peek == UInt8(ascii: ",") {
          index += 1
          continue
        }
        try expect(UInt8(ascii: "]"), field: field, what: "',' or ']'")
        break
      }
    }
    guard count == values.count else {
      throw RowError(field: field, expected: "an array of \(values.count) numbers (as in the file's first record)", found: "\(count)")
    }
  }

  /// Any number array (for probing the first record's shapes).
  mutating func numberArray(into values: inout [Double], field: String) throws(RowError) {
    try expect(UInt8(ascii: "["), field: field, what: "an array")
    skipWhitespace()
    if peek == UInt8(ascii: "]") {
      index += 1
      throw RowError(field: field, expected: "a non-empty array", found: "[]")
    }
    while true {
      skipWhitespace()
      // Refused as it is read: the width sizes every column buffer of the file.
      guard values.count < TextSchema.maximumWidth else {
        throw RowError(
          field: field, expected: "at most \(TextSchema.maximumWidth) numbers (the limit of an observation or action in a text log)",
          found: "more")
      }
      values.append(try number(field: field))
      skipWhitespace()
      if peek == UInt8(ascii: ",") {
        index += 1
        continue
      }
      try expect(UInt8(ascii: "]"), field: field, what: "',' or ']'")
      return
    }
  }

  /// Skips any JSON value.
  mutating func skipValue(field: String) throws(RowError) {
    skipWhitespace()
    switch peek {
    case UInt8(ascii: "\""): _ = try string(field: field)
    case UInt8(ascii: "["), UInt8(ascii: "{"):
      var depth = 0
      while index < bytes.count {
        let byte = bytes[index]
        if byte == UInt8(ascii: "\"") {
          _ = try string(field: field)
          continue
        }
        if byte == UInt8(ascii: "[") || byte == UInt8(ascii: "{") { depth += 1 }
        if byte == UInt8(ascii: "]") || byte == UInt8(ascii: "}") {
          depth -= 1
          if depth == 0 {
            index += 1
            return
          }
        }
        index += 1
      }
      throw RowError(field: field, expected: "a closed array or object", found: "the end of the line")
    default:
      if peekLiteral("true") { index += 4; return }
      if peekLiteral("false") { index += 5; return }
      if peekLiteral("null") { index += 4; return }
      _ = try number(field: field)
    }
  }
}
