import Foundation
import Testing

@testable import MTFQI

/// The fast paths of the text readers against the general code they shortcut: the short-decimal
/// number parser against fast_float, and the one-pass CSV row parser against the field-by-field
/// parser. A fast path may decline any input, but what it accepts must match bit for bit.
@Suite("Ingest: fast paths agree with the general parsers")
struct TextFastPathTests {
  /// A small deterministic generator (the library's SplitMix64), so a failure can be replayed.
  typealias SplitMix = SplitMix64

  /// A random decimal in the shapes logs hold (signs, leading zeros, 0 to 25 fraction digits,
  /// exponents), or random bytes from the number alphabet.
  static func randomNumberText(_ random: inout SplitMix) -> String {
    let digits = Array("0123456789")
    if random.below(5) == 0 {
      let alphabet = Array("0123456789.-+eE, x")
      return String((0..<random.below(30)).map { _ in alphabet[random.below(alphabet.count)] })
    }
    var text = random.below(2) == 0 ? "-" : ""
    text += String((0..<random.below(12)).map { _ in digits[random.below(10)] })
    if random.below(4) != 0 {
      text += "." + String((0..<random.below(26)).map { _ in digits[random.below(10)] })
    }
    if random.below(5) == 0 {
      text += random.below(2) == 0 ? "e" : "E"
      if random.below(2) == 0 { text += random.below(2) == 0 ? "-" : "+" }
      text += String((0..<random.below(4)).map { _ in digits[random.below(10)] })
    }
    return text
  }

  @Test("the short-decimal fast path gives fast_float's value and length, bit for bit")
  func numbersMatchFastFloat() {
    var random = SplitMix(state: 2026)
    var mismatches: [String] = []
    var fastPathCases = 0
    for iteration in 0..<400_000 {
      var text = Self.randomNumberText(&random)
      // Half the cases have more text behind the number (the parser reads eight bytes at a
      // time when at least 32 follow), the rest end with the number.
      if iteration % 2 == 0 { text += ",0.123456789,42,1\n-7.25,0.000001,3.14159265358979" }
      let bytes = Array(text.utf8)
      let (fast, reference) = bytes.withUnsafeBytes {
        (TextParsing.numberPrefix($0), TextParsing.numberPrefix($0, reference: true))
      }
      if fast.consumed != reference.consumed || (reference.consumed > 0 && fast.value.bitPattern != reference.value.bitPattern) {
        mismatches.append("'\(text)': \(fast) vs fast_float \(reference)")
      }
      if reference.consumed > 0 && reference.value.isFinite { fastPathCases += 1 }
    }
    #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
    #expect(fastPathCases > 100_000)
  }

  @Test("edge cases of the fast path: zeros, signs, 2^53, 19 digits, powers of ten at the range ends")
  func numberEdgeCases() {
    let cases = [
      "0", "-0", "0.0", "-0.0", "00.5", "1.", ".5", "-.5", "+1.5", "1e22", "1e23", "1e-22", "1e-23",
      "9007199254740992", "9007199254740993", "-9007199254740993.0", "1234567890123456789",
      "12345678901234567890", "0.1234567890123456789", "123.4567890123456789", "1.7976931348623157e308",
      "4.9e-324", "1e", "1e+", "1e-", "1.5e3x", "inf", "-Infinity", "nan", "1234567.12345678",
      "12345678.1234567", "0.00000000000000000000001", "1_000", "0x10", "--1", "1..2", "9.999999999999999999",
    ]
    for text in cases {
      for tail in ["", ",1.25,7,0.000000001,123456789.123456789\n"] {
        let bytes = Array((text + tail).utf8)
        let (fast, reference) = bytes.withUnsafeBytes {
          (TextParsing.numberPrefix($0), TextParsing.numberPrefix($0, reference: true))
        }
        #expect(fast.consumed == reference.consumed, "'\(text)' + tail of \(tail.count)")
        if reference.consumed > 0 {
          #expect(fast.value.bitPattern == reference.value.bitPattern, "'\(text)'")
        }
      }
    }
  }

  /// The roles of a CSV header, through the reader's own header parser path (names to roles).
  static let header = [
    "task", "episode", "step", "obs_0", "obs_1", "act_0", "reward", "next_obs_0", "next_obs_1", "terminated",
    "truncated", "behavior_prob",
  ]
  static let roles: [CSVParser.Role] = [
    .task, .episode, .step, .observation(0), .observation(1), .action(0), .reward, .nextObservation(0),
    .nextObservation(1), .terminated, .truncated, .behaviorProbability,
  ]

  static func schema() -> TextSchema {
    let float = ColumnFormat(type: .float64, rowShape: [2])
    let action = ColumnFormat(type: .float64, rowShape: [1])
    return TextSchema(
      format: TaskFormat(observation: float, action: action, hasBehaviorProbabilities: true),
      observationShape: .box(width: 2), actionShape: .box(width: 1), hasBehaviorProbabilities: true,
      declaredObservation: nil, declaredAction: nil, taskFlag: nil, skipInvalid: false)
  }

  static func emptyRow() -> TextRow {
    var row = TextRow()
    row.observation = [0, 0]
    row.nextObservation = [0, 0]
    row.action = [0]
    return row
  }

  /// Row `index` of `columns` as a TextRow (task and missing-next aside, which columns do not hold).
  static func row(_ columns: TextColumns, _ index: Int, task: String?) -> TextRow {
    var row = emptyRow()
    row.task = task
    for k in 0..<2 {
      row.observation[k] = columns.observations[index * 2 + k]
      row.nextObservation[k] = columns.nextObservations[index * 2 + k]
    }
    row.action[0] = columns.actions[index]
    row.reward = columns.rewards[index]
    row.episode = columns.episodes[index]
    row.step = columns.steps[index]
    row.terminated = columns.terminations[index]
    row.truncated = columns.truncations[index]
    row.behaviorProbability = columns.behaviorProbabilities[index]
    return row
  }

  static func describe(_ row: TextRow) -> String {
    func bits(_ values: [Double]) -> String { values.map { String($0.bitPattern, radix: 16) }.joined(separator: " ") }
    return
      "\(row.task ?? "nil") \(row.episode) \(row.step) [\(bits(row.observation))] [\(bits(row.action))] "
      + "\(row.reward.bitPattern) [\(bits(row.nextObservation))] \(row.nextObservationMissing) \(row.terminated) "
      + "\(row.truncated) \(row.behaviorProbability.bitPattern)"
  }

  @Test("the one-pass CSV row parser accepts only what the field parser accepts, with the same row")
  func csvRowsMatchTheFieldParser() {
    let parser = CSVLineParser(roles: Self.roles)
    let schema = Self.schema()
    let good = "cart,3,17,0.25,-1.5e-3,2,-0.774,1e2,0.001230153,0,1,0.5"
    var lines = [good]
    // One field at a time replaced by something unusual: each must go to the field parser, or
    // give exactly its row.
    let oddities = [
      "", " 1", "1 ", "\"1\"", "nan", "inf", "-inf", "1.", ".5", "+7", "-0", "0x1", "1e", "1,5", "true", "2",
      "12345678901234567890", "123456789012345678", "9.9999999999999999999", "\"ca,rt\"", "ca\"rt", "1.5\r", "\r",
    ]
    let fields = good.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    for index in fields.indices {
      for odd in oddities {
        var changed = fields
        changed[index] = odd
        lines.append(changed.joined(separator: ","))
      }
    }
    lines += [good + ",", good + ",1", "", "   ", String(good.dropLast(4)), good + "\r", "\"cart\"" + good.dropFirst(4)]
    var random = SplitMix(state: 7)
    for _ in 0..<2000 {
      var changed = fields
      for k in [3, 4, 5, 6, 7, 8] { changed[k] = Self.randomNumberText(&random) }
      lines.append(changed.joined(separator: ","))
    }
    var accepted = 0
    for line in lines {
      for ending in ["\n", "\r\n", ""] {
        let text = Array((line + ending + "next,line,follows,with,more,text,after,it,0,0,0,0\n").utf8)
        if Self.agree(text, parser, schema, "'\(line)' + \(ending.debugDescription)") { accepted += 1 }
      }
    }
    #expect(accepted > 300)
  }

  @Test("rows the checks reject, or of another task, are left to the general path")
  func csvChecks() {
    let parser = CSVLineParser(roles: Self.roles)
    let schema = Self.schema()
    for line in [
      "cart,3,17,0.25,-1.5e-3,2,-0.774,1e2,0.001230153,0,1,1.5",
      "cart,3,17,0.25,-1.5e-3,2,-0.774,1e2,0.001230153,0,1,-0.25",
      "cars,3,17,0.25,-1.5e-3,2,-0.774,1e2,0.001230153,0,1,0.5",
      "car,3,17,0.25,-1.5e-3,2,-0.774,1e2,0.001230153,0,1,0.5",
    ] {
      let (next, rows, columns) = Self.fastRows(Array((line + "\n").utf8), parser, schema)
      #expect(rows == 0 && next == 0 && columns.count == 0, "'\(line)'")
    }
  }

  /// A fast path on `text` from `start`: where it stopped, how many rows it took, its columns.
  static func fastRows(
    _ text: [UInt8], _ parser: some TextLineParser, _ schema: TextSchema, task: String = "cart", from start: Int = 0
  ) -> (next: Int, rows: Int, columns: TextColumns) {
    let columns = TextColumns(format: schema.format)
    let (next, rows) = text.withUnsafeBytes { bytes in
      parser.parseCommonRows(bytes, from: start, schema: schema, task: task, into: columns)
    }
    return (next, rows, columns)
  }

  /// What the general path makes of the first line of `text` (cut at LF, less one CR), as the
  /// block parser runs it: the row when it is a good row of `task`, nil otherwise.
  static func generalRow(_ text: [UInt8], _ parser: some TextLineParser, _ schema: TextSchema, task: String = "cart")
    -> TextRow?
  {
    let lineFeed = text.firstIndex(of: 0x0A) ?? text.count
    var length = lineFeed
    if length > 0 && text[length - 1] == 0x0D { length -= 1 }
    return text.withUnsafeBytes { bytes -> TextRow? in
      let line = UnsafeRawBufferPointer(rebasing: bytes[0..<length])
      if ParallelLines.isBlank(line) { return nil }
      var row = emptyRow()
      do throws(RowError) {
        try parser.parse(line, schema: schema, into: &row)
        try schema.validate(row)
        guard try schema.task(of: row) == task else { return nil }
      } catch {
        return nil
      }
      row.task = task
      return row
    }
  }

  /// The fast path on the first line of `text` (of task "cart", followed by a line it must not
  /// take): it takes nothing, or exactly the general path's row and stops after the line.
  /// Returns whether it took the line.
  static func agree(
    _ text: [UInt8], _ parser: some TextLineParser, _ schema: TextSchema, _ shown: String,
    sourceLocation: SourceLocation = #_sourceLocation
  ) -> Bool {
    let (next, rows, columns) = fastRows(text, parser, schema)
    guard rows > 0 else {
      #expect(next == 0 && columns.count == 0, "\(shown)", sourceLocation: sourceLocation)
      return false
    }
    #expect(rows == 1 && columns.count == 1, "\(shown)", sourceLocation: sourceLocation)
    guard let expected = generalRow(text, parser, schema) else {
      Issue.record("the fast path took \(shown), which the general parser refuses", sourceLocation: sourceLocation)
      return true
    }
    #expect(next == (text.firstIndex(of: 0x0A) ?? text.count) + 1, "\(shown)", sourceLocation: sourceLocation)
    #expect(describe(row(columns, 0, task: "cart")) == describe(expected), "\(shown)", sourceLocation: sourceLocation)
    return true
  }

  /// `agree` for a schema of Discrete observations and actions: the fast path takes nothing,
  /// or the general path's indices, reward, ids and flags. Returns whether it took the line.
  static func agreeDiscrete(
    _ line: String, _ parser: some TextLineParser, _ schema: TextSchema,
    sourceLocation: SourceLocation = #_sourceLocation
  ) -> Bool {
    let (next, rows, columns) = fastRows(Array((line + "\n").utf8), parser, schema)
    guard rows > 0 else {
      #expect(next == 0 && columns.count == 0, "'\(line)'", sourceLocation: sourceLocation)
      return false
    }
    guard let expected = generalRow(Array(line.utf8), parser, schema) else {
      Issue.record("the fast path took '\(line)', which the general parser refuses", sourceLocation: sourceLocation)
      return true
    }
    #expect(rows == 1 && next == line.utf8.count + 1, "'\(line)'", sourceLocation: sourceLocation)
    let taken = [
      columns.observationIndices[0], columns.nextObservationIndices[0], columns.actionIndices[0], columns.episodes[0],
      columns.steps[0], Int64(columns.terminations[0]), Int64(columns.truncations[0]),
    ]
    let general = [
      expected.observationIndex, expected.nextObservationIndex, expected.actionIndex, expected.episode, expected.step,
      Int64(expected.terminated), Int64(expected.truncated),
    ]
    #expect(taken == general && columns.rewards[0] == expected.reward, "'\(line)'", sourceLocation: sourceLocation)
    return true
  }

  @Test("the last line of a block: without a line end, with CRLF, or a lone CR")
  func csvLastLine() throws {
    let parser = CSVLineParser(roles: Self.roles)
    let schema = Self.schema()
    let good = "cart,3,17,0.25,-1.5e-3,2,-0.774,1e2,0.001230153,0,1,0.5"
    for ending in ["", "\r", "\n", "\r\n"] {
      let text = Array((good + ending).utf8)
      let (next, rows, columns) = Self.fastRows(text, parser, schema)
      let expected = try #require(Self.generalRow(Array(good.utf8), parser, schema))
      #expect(next == text.count && rows == 1)
      #expect(Self.describe(Self.row(columns, 0, task: "cart")) == Self.describe(expected))
    }
  }

  @Test("runs of common lines: past the columns' capacity, stopping at the first other line")
  func csvRuns() {
    let parser = CSVLineParser(roles: Self.roles)
    let schema = Self.schema()
    var random = SplitMix(state: 99)
    var lines: [String] = []
    for index in 0..<3000 {
      let values = (0..<6).map { _ in String(format: "%.9f", Double(random.below(2_000_001)) / 1e6 - 1) }
      lines.append(
        "cart,\(index / 200),\(index % 200),\(values[0]),\(values[1]),\(values[2]),\(values[3]),\(values[4]),"
          + "\(values[5]),\(index % 200 == 199 ? 1 : 0),0,0.25")
    }
    let common = lines.joined(separator: "\n") + "\n"
    // A quoted field (the general path's) stops the run; what follows is not read.
    let text = Array((common + "\"cart\"," + lines[0].dropFirst(5) + "\n" + lines[1] + "\n").utf8)
    let (next, rows, columns) = Self.fastRows(text, parser, schema)
    #expect(rows == 3000 && columns.count == 3000)
    #expect(next == common.utf8.count)
    for (index, line) in lines.enumerated() where index % 97 == 0 || index == 2999 {
      let expected = Self.generalRow(Array(line.utf8), parser, schema)
      #expect(expected.map(Self.describe) == Self.describe(Self.row(columns, index, task: "cart")), "line \(index)")
    }
    // Starting inside the text: the run from the second line on.
    let second = common.utf8.firstIndex(of: 0x0A).map { common.utf8.distance(from: common.utf8.startIndex, to: $0) + 1 } ?? 0
    #expect(Self.fastRows(text, parser, schema, from: second).rows == 2999)
  }

  @Test("Discrete columns: integers within the declared spaces, and no task column (the --task rows)")
  func csvDiscrete() {
    let roles: [CSVParser.Role] = [.episode, .step, .observation(0), .action(0), .reward, .nextObservation(0), .terminated, .truncated]
    let parser = CSVLineParser(roles: roles)
    let discrete = ColumnFormat(type: .int64, rowShape: [])
    let schema = TextSchema(
      format: TaskFormat(observation: discrete, action: discrete, hasBehaviorProbabilities: false),
      observationShape: .discrete, actionShape: .discrete, hasBehaviorProbabilities: false,
      declaredObservation: .discrete(n: 5, start: 0), declaredAction: .discrete(n: 3, start: -1), taskFlag: "cart",
      skipInvalid: false)
    var accepted = 0
    for observation in ["-1", "0", "4", "5", "+2", "2.0", "02"] {
      for action in ["-2", "-1", "1", "2"] {
        for nextObservation in ["0", "4", "7", ""] {
          let line = "3,17,\(observation),\(action),-0.5,\(nextObservation),0,0"
          if Self.agreeDiscrete(line, parser, schema) { accepted += 1 }
        }
      }
    }
    // In range: observation 0, 4, +2, 02; action -1, 1; next 0, 4.
    #expect(accepted == 4 * 2 * 2)
    // Another task than --task's: never the fast path.
    #expect(Self.fastRows(Array("3,17,0,1,-0.5,0,0,0\n".utf8), parser, schema, task: "other").rows == 0)
  }

  // MARK: JSON Lines

  @Test("the one-pass JSON Lines parser accepts only what the record parser accepts, with the same row")
  func jsonRowsMatchTheRecordParser() {
    let schema = Self.schema()
    let keys = ["task", "episode", "step", "obs", "action", "reward", "next_obs", "terminated", "truncated", "behavior_prob"]
    let good = [
      "\"cart\"", "3", "17", "[0.25, -1.5e-3]", "[2]", "-0.774", "[1e2, 0.001230153]", "false", "true", "0.5",
    ]
    func record(_ values: [String], keys: [String] = keys, colon: String = ": ", comma: String = ", ") -> String {
      "{" + zip(keys, values).map { "\"\($0)\"\(colon)\($1)" }.joined(separator: comma) + "}"
    }
    var lines = [record(good)]
    let oddities = [
      "", "null", "\"1\"", "nan", "NaN", "Infinity", "1.", ".5", "+7", "-0", "1e", "1e400", "true", "false", "0", "1",
      "01", "-", "2.5", "[1]", "[]", "[1, 2, 3]", "[1,2]", "[ 1 , 2 ]", "[1, 2", "[1 2]", "[1, [2]]", "[1e2,-0.0]",
      "12345678901234567890", "9223372036854775807", "-9223372036854775808", "9223372036854775808", "\"cart\"",
      "\"ca\\\"rt\"", "\"car\"", "\"cart \"", "\"ca\\u0072t\"", "\"carts\"", "[0.5]", "0.5", "1.5", "-0.5", "{}",
      "tru", "truex", "0x1", "[\"1\", 2]", "[nan, 1]", "1\t", " 1",
    ]
    for index in good.indices {
      for odd in oddities {
        var changed = good
        changed[index] = odd
        lines.append(record(changed))
      }
      // Each key left out, and each key twice.
      lines.append(record(Array(good[..<index] + good[(index + 1)...]), keys: Array(keys[..<index] + keys[(index + 1)...])))
      lines.append(record(good + [good[index]], keys: keys + [keys[index]]))
    }
    lines += [
      record(good.reversed(), keys: keys.reversed()), record(good, colon: ":", comma: ","),
      record(good, colon: " :\t", comma: " ,  "), "  " + record(good) + " \t", "\t" + record(good), record(good) + " x",
      record(good) + "}", record(good + ["1"], keys: keys + ["extra"]), record(good, keys: ["t\\u0061sk"] + keys.dropFirst()),
      record(good, colon: ":\r"), "", "   ", "{}", "[]", "{\"task\": \"cart\"}", record(good) + "\r",
      String(record(good).dropLast()),
    ]
    var random = SplitMix(state: 5)
    for _ in 0..<2000 {
      var changed = good
      changed[3] = "[\(Self.randomNumberText(&random)), \(Self.randomNumberText(&random))]"
      changed[5] = Self.randomNumberText(&random)
      changed[6] = "[\(Self.randomNumberText(&random)),\(Self.randomNumberText(&random))]"
      lines.append(record(changed))
    }
    var accepted = 0
    for line in lines {
      for ending in ["\n", "\r\n", "\r\r\n", ""] {
        let text = Array((line + ending + "{\"next\": 1}\n").utf8)
        if Self.agree(text, JSONLLineParser(), schema, "'\(line)' + \(ending.debugDescription)") { accepted += 1 }
      }
    }
    // Random numbers with leading zeros are not JSON (RFC 8259), so fewer lines pass than in CSV.
    #expect(accepted > 500, "\(accepted)")
  }

  @Test("random byte edits of good lines: whatever a fast path takes, the general parser takes alike")
  func randomEditsAgree() {
    let schema = Self.schema()
    let csvParser = CSVLineParser(roles: Self.roles)
    let csvGood = "cart,3,17,0.25,-1.5e-3,2,-0.774,1e2,0.001230153,0,1,0.5"
    let jsonGood =
      "{\"task\": \"cart\", \"episode\": 3, \"step\": 17, \"obs\": [0.25, -1.5e-3], \"action\": [2], "
      + "\"reward\": -0.774, \"next_obs\": [1e2, 0.001230153], \"terminated\": false, \"truncated\": true, "
      + "\"behavior_prob\": 0.5}"
    let alphabet = Array("0123456789,.-+eE \t\r\n\"[]{}:atrufnlsx\\".utf8)
    var random = SplitMix(state: 31)
    var accepted = (csv: 0, json: 0)
    for round in 0..<12_000 {
      let json = round % 2 == 1
      var bytes = Array((json ? jsonGood : csvGood).utf8)
      // One to three edits: replace, insert or delete a byte.
      for _ in 0...random.below(3) {
        let at = random.below(bytes.count + 1)
        switch random.below(3) {
        case 0 where at < bytes.count: bytes[at] = alphabet[random.below(alphabet.count)]
        case 1: bytes.insert(alphabet[random.below(alphabet.count)], at: at)
        default: if at < bytes.count { bytes.remove(at: at) }
        }
      }
      let text = bytes + Array("\n{\"next\": 1}\nnext,line\n".utf8)
      let shown = String(decoding: bytes, as: UTF8.self).debugDescription
      if json {
        if Self.agree(text, JSONLLineParser(), schema, shown) { accepted.json += 1 }
      } else {
        if Self.agree(text, csvParser, schema, shown) { accepted.csv += 1 }
      }
    }
    // Many edits leave a good line (a digit for a digit, a space in JSON), so both paths see use.
    // (JSON Lines takes fewer: RFC 8259 refuses the leading zeros and bare points edits make.)
    #expect(accepted.csv > 300 && accepted.json > 200, "\(accepted)")
  }

  @Test("JSON Lines: Discrete values within the declared spaces, records without a task under --task, runs")
  func jsonDiscreteAndTaskFlag() {
    let discrete = ColumnFormat(type: .int64, rowShape: [])
    func schema(taskFlag: String?) -> TextSchema {
      TextSchema(
        format: TaskFormat(observation: discrete, action: discrete, hasBehaviorProbabilities: false),
        observationShape: .discrete, actionShape: .discrete, hasBehaviorProbabilities: false,
        declaredObservation: .discrete(n: 5, start: 0), declaredAction: .discrete(n: 3, start: -1), taskFlag: taskFlag,
        skipInvalid: false)
    }
    func common(_ text: String, _ schema: TextSchema, task: String = "cart") -> (next: Int, rows: Int, columns: TextColumns) {
      Self.fastRows(Array(text.utf8), JSONLLineParser(), schema, task: task)
    }
    var accepted = 0
    for observation in ["-1", "0", "4", "5", "2.0", "[2]", "02"] {
      for action in ["-2", "-1", "1", "2"] {
        let line = "{\"episode\": 3, \"step\": 17, \"obs\": \(observation), \"action\": \(action), \"reward\": -0.5, "
          + "\"next_obs\": 4, \"terminated\": 1, \"truncated\": 0}"
        guard Self.agreeDiscrete(line, JSONLLineParser(), schema(taskFlag: "cart")) else { continue }
        accepted += 1
        // Without --task, a record without a task has none: the general path words the error.
        #expect(common(line + "\n", schema(taskFlag: nil)).rows == 0)
        // Under --task other, neither "cart" rows nor "other" rows without a matching record task pass.
        #expect(common(line + "\n", schema(taskFlag: "other")).rows == 0)
      }
    }
    // In range: observation 0, 4; action -1, 1 ("02" is not a JSON number: RFC 8259 has no leading zeros).
    #expect(accepted == 2 * 2)
    // A record's task must be --task's.
    let withTask = "{\"task\": \"cart\", \"episode\": 3, \"step\": 17, \"obs\": 1, \"action\": 0, \"reward\": -0.5, \"next_obs\": 4, \"terminated\": 1, \"truncated\": 0}\n"
    #expect(common(withTask, schema(taskFlag: "cart")).rows == 1)
    #expect(common(withTask, schema(taskFlag: nil)).rows == 1)
    #expect(common(withTask, schema(taskFlag: "other"), task: "other").rows == 0)
    #expect(common(withTask, schema(taskFlag: nil), task: "other").rows == 0)
    // A run longer than the columns' first capacity, stopped by a record of another task.
    let run = String(repeating: withTask, count: 2500)
    let (next, rows, columns) = common(run + withTask.replacingOccurrences(of: "cart", with: "pole") + withTask, schema(taskFlag: nil))
    #expect(rows == 2500 && columns.count == 2500)
    #expect(next == run.utf8.count)
  }

  @Test("JSON Lines: an integer task id is taken by the fast path only where the general path names the same task")
  func jsonIntegerTaskIDs() {
    let discrete = ColumnFormat(type: .int64, rowShape: [])
    let schema = TextSchema(
      format: TaskFormat(observation: discrete, action: discrete, hasBehaviorProbabilities: false),
      observationShape: .discrete, actionShape: .discrete, hasBehaviorProbabilities: false,
      declaredObservation: nil, declaredAction: nil, taskFlag: nil, skipInvalid: false)
    let cases: [(text: String, task: String, taken: Bool)] = [
      ("7", "7", true), ("\"7\"", "7", true), ("7", "8", false), ("70", "7", false), ("-3", "-3", true),
      ("0", "0", true), ("-0", "-0", true), ("07", "07", false), ("7.0", "7", false), ("7e0", "7", false),
      ("7 ", "7", true), ("12345678901234567890123", "12345678901234567890123", true), ("true", "true", false),
    ]
    for (text, task, taken) in cases {
      let line = "{\"task\": \(text), \"episode\": 3, \"step\": 1, \"obs\": 2, \"action\": 0, \"reward\": 1, \"next_obs\": 4, \"terminated\": 0, \"truncated\": 0}"
      let (_, rows, _) = Self.fastRows(Array((line + "\n").utf8), JSONLLineParser(), schema, task: task)
      #expect((rows == 1) == taken, "'\(line)' as task \(task)")
      // The general path: the same task for every line the fast path took.
      let general = Self.generalRow(Array(line.utf8), JSONLLineParser(), schema, task: task)
      if taken { #expect(general != nil, "'\(line)'") }
    }
    // The general path refuses what is not a JSON string or integer, naming the field.
    var row = Self.emptyRow()
    for bad in ["07", "7.0", "true", "null", "[7]"] {
      let line = Array("{\"task\": \(bad), \"episode\": 0, \"step\": 0, \"obs\": 0, \"action\": 0, \"reward\": 0, \"next_obs\": 0, \"terminated\": 0, \"truncated\": 0}".utf8)
      var failure: RowError?
      line.withUnsafeBytes { bytes in
        do throws(RowError) {
          try JSONLLineParser().parse(bytes, schema: schema, into: &row)
        } catch {
          failure = error
        }
      }
      #expect(failure?.field == "task" && failure?.expected == "a string or an integer", "\(bad): \(String(describing: failure))")
    }
  }
}

/// The block reader must cut a file into the same parts as the reader before it (a task's
/// datasets take their chunk length from its first batch, so other parts would change the
/// store's chunk shapes) and hand over every byte once, hashed.
@Suite("Ingest: block reader parts")
struct BlockReaderTests {
  /// The parts as the earlier reader made them: after the header line, blocks of `capacity`
  /// bytes (the carry included) ending at their last newline, each split at the first newline
  /// at or after its middle when it has 64 KiB or more.
  static func referenceParts(_ text: [UInt8], capacity: Int) -> [Range<Int>] {
    guard let header = text.firstIndex(of: 0x0A) else { return [] }
    var parts: [Range<Int>] = []
    var start = header + 1
    while start < text.count {
      var end = min(start + capacity, text.count)
      if end < text.count {
        guard let last = text[start..<end].lastIndex(of: 0x0A) else { return [] }  // no line that long here
        end = last + 1
      }
      let count = end - start
      let middle = start + count / 2
      if count >= 1 << 16, let newline = text[middle..<end].firstIndex(of: 0x0A), newline + 1 < end {
        parts += [start..<(newline + 1), (newline + 1)..<end]
      } else {
        parts.append(start..<end)
      }
      start = end
    }
    return parts
  }

  @Test("parts equal the earlier reader's, over several blocks, with and without a final newline")
  func partsMatchTheEarlierReader() throws {
    var random = TextFastPathTests.SplitMix(state: 5)
    for finalNewline in [true, false] {
      var text = Array("episode,step,obs,action,reward,next_obs,terminated,truncated\n".utf8)
      while text.count < 19 << 20 {
        let length = 20 + random.below(random.below(50) == 0 ? 3000 : 120)
        text += Array(repeating: UInt8(ascii: "7"), count: length) + [0x0A]
      }
      if !finalNewline { text.removeLast() }
      let directory = try Fixtures.TemporaryDirectory("mtfqi-parts")
      let path = directory.file("parts-\(finalNewline).csv")
      try Data(text).write(to: URL(fileURLWithPath: path))

      let stream = try ByteStream(path: path)
      let scanner = LineScanner(stream: stream)
      try scanner.forEachLine { _, _ in false }
      let capacity = scanner.capacity
      let reader = PrefetchingBlockReader(scanner: scanner)
      reader.start()
      var parts: [[UInt8]] = []
      readLoop: while true {
        switch reader.next().item {
        case .part(let bytes, let buffer):
          parts.append(Array(bytes))
          reader.recycle(buffer)
        case .end: break readLoop
        case .failure(let error): throw error
        }
      }
      reader.stop()
      let expected = Self.referenceParts(text, capacity: capacity).map { Array(text[$0]) }
      #expect(parts.count == expected.count)
      #expect(parts == expected)
      // Every byte was hashed once, in order: the digest is the file's.
      let whole = try ByteStream(path: path)
      let rest = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
      defer { rest.deallocate() }
      while try whole.read(into: rest) > 0 {}
      #expect(try stream.sha256() == whole.sha256())
    }
  }
}
