import Dispatch
import Foundation

/// What every parser of one text file shares, read-only, across worker threads.
struct TextSchema: @unchecked Sendable {
  let format: TaskFormat
  let observationShape: TextColumnShape
  let actionShape: TextColumnShape
  let hasBehaviorProbabilities: Bool
  let declaredObservation: Space?
  let declaredAction: Space?
  let taskFlag: String?
  let skipInvalid: Bool

  var observationIsDiscrete: Bool { format.observation.type == .int64 }
  var actionIsDiscrete: Bool { format.action.type == .int64 }

  /// Checks a row against the declared Discrete spaces.
  func checkSpaces(_ row: TextRow) throws(RowError) {
    if let space = declaredObservation, case .discrete(let n, let start) = space {
      if row.observationIndex < start || row.observationIndex >= start + n {
        throw RowError(field: "obs", expected: "an integer in [\(start), \(start + n - 1)] (declared \(space))", found: "\(row.observationIndex)")
      }
      if !row.nextObservationMissing && (row.nextObservationIndex < start || row.nextObservationIndex >= start + n) {
        throw RowError(field: "next_obs", expected: "an integer in [\(start), \(start + n - 1)] (declared \(space))", found: "\(row.nextObservationIndex)")
      }
    }
    if let space = declaredAction, case .discrete(let n, let start) = space {
      if row.actionIndex < start || row.actionIndex >= start + n {
        throw RowError(field: "action", expected: "an integer in [\(start), \(start + n - 1)] (declared \(space))", found: "\(row.actionIndex)")
      }
    }
  }

  /// The checks that do not depend on the text format.
  func validate(_ row: TextRow) throws(RowError) {
    if row.nextObservationMissing && row.terminated == 0 {
      throw RowError(
        field: "next_obs", expected: "a next observation (it may be missing only on a terminated row)", found: "none")
    }
    if hasBehaviorProbabilities && !(row.behaviorProbability >= 0 && row.behaviorProbability <= 1) {
      throw RowError(field: "behavior_prob", expected: "a probability in [0, 1]", found: "\(row.behaviorProbability)")
    }
    try checkSpaces(row)
  }

  /// The row's task: its own, or --task; a disagreement or no task at all is a row error.
  func task(of row: TextRow) throws(RowError) -> String {
    switch (row.task, taskFlag) {
    case (let record?, let flag?) where record != flag:
      throw RowError(field: "task", expected: "'\(flag)' (given with --task)", found: "'\(record)'")
    case (let record?, _): return record
    case (nil, let flag?): return flag
    case (nil, nil):
      throw RowError(field: "task", expected: "a task (a task column/field, or --task NAME)", found: "none")
    }
  }
}

/// Turns one line into a row (CSV or JSON Lines).
protocol TextLineParser: Sendable {
  func parse(_ line: UnsafeRawBufferPointer, schema: TextSchema, into row: inout TextRow) throws(RowError)
}

/// The rows one worker parsed from its share of a block, per task in order of appearance.
struct ParsedBlock: @unchecked Sendable {
  var batches: [String: TransitionBatch] = [:]
  var order: [String] = []
  var terminalRowsWithoutNext: [String: Int] = [:]
  /// Rejected rows (skip-invalid): line number, task if known, message.
  var rejections: [(line: Int, task: String?, message: String)] = []
  /// The first bad row when not skipping: line number and message.
  var failure: (line: Int, message: String)?
  /// Lines seen (including blank ones) and data rows (non-blank).
  var lines = 0
  var dataRows = 0
}

/// Parses blocks of whole lines on two threads (the machine's cores): the block is cut at a
/// newline near its middle, each half is parsed into its own per-task batches, and the halves
/// are handed back in file order, so the store gets the rows in the order of the file.
enum ParallelLines {
  private struct Shared: @unchecked Sendable {
    let block: UnsafeRawBufferPointer
    let results: UnsafeMutableBufferPointer<ParsedBlock>
  }

  static func parse<P: TextLineParser>(
    _ block: UnsafeRawBufferPointer, firstLine: Int, parser: P, schema: TextSchema
  ) -> [ParsedBlock] {
    var cuts = [0, block.count]
    if block.count >= 1 << 16, let base = block.baseAddress {
      let middle = block.count / 2
      if let newline = memchr(base + middle, 0x0A, block.count - middle) {
        let cut = UnsafeRawPointer(newline) - base + 1
        if cut < block.count { cuts = [0, cut, block.count] }
      }
    }
    let parts = cuts.count - 1
    let bounds = cuts
    let results = UnsafeMutableBufferPointer<ParsedBlock>.allocate(capacity: parts)
    results.initialize(repeating: ParsedBlock())
    defer {
      _ = results.deinitialize()
      results.deallocate()
    }
    let shared = Shared(block: block, results: results)
    let run: @Sendable (Int) -> Void = { part in
      let slice = UnsafeRawBufferPointer(rebasing: shared.block[bounds[part]..<bounds[part + 1]])
      shared.results[part] = parseSlice(slice, parser: parser, schema: schema)
    }
    if parts == 1 { run(0) } else { DispatchQueue.concurrentPerform(iterations: parts, execute: run) }
    // Line numbers: each part counted from 0; shift by the lines before it.
    var output: [ParsedBlock] = []
    var offset = firstLine
    for part in 0..<parts {
      var result = results[part]
      results[part] = ParsedBlock()
      if let failure = result.failure { result.failure = (failure.line + offset, failure.message) }
      result.rejections = result.rejections.map { ($0.line + offset, $0.task, $0.message) }
      offset += result.lines
      output.append(result)
    }
    return output
  }

  /// Parses the lines of a slice. Line numbers in the result are 0-based within the slice
  /// (`parse` shifts them); the slice holds whole lines.
  static func parseSlice<P: TextLineParser>(
    _ slice: UnsafeRawBufferPointer, parser: P, schema: TextSchema
  ) -> ParsedBlock {
    var result = ParsedBlock()
    var row = TextRow()
    row.observation = Array(repeating: 0, count: schema.observationShape.width)
    row.nextObservation = row.observation
    row.action = Array(repeating: 0, count: schema.actionShape.width)
    guard let base = slice.baseAddress else { return result }
    var start = 0
    var currentTask: String?
    // Reserve for the slice's rows, estimated from its first line, so the columns do not grow
    // by repeated doubling (copies and page faults).
    var estimatedRows = 1024
    if let firstNewline = memchr(base, 0x0A, slice.count) {
      let firstLength = max(16, UnsafeRawPointer(firstNewline) - base + 1)
      estimatedRows = min(slice.count / firstLength + slice.count / (8 * firstLength) + 16, 1 << 22)
    }
    var current = TransitionBatch(format: schema.format, capacity: estimatedRows)
    func stash() {
      if let currentTask { result.batches[currentTask] = current }
    }
    while start < slice.count {
      let end: Int
      if let newline = memchr(base + start, 0x0A, slice.count - start) {
        end = UnsafeRawPointer(newline) - base
      } else {
        end = slice.count
      }
      var length = end - start
      if length > 0 && slice[start + length - 1] == 0x0D { length -= 1 }
      let line = UnsafeRawBufferPointer(start: base + start, count: length)
      start = end + 1
      result.lines += 1
      let lineNumber = result.lines
      if isBlank(line) { continue }
      result.dataRows += 1
      let task: String
      do throws(RowError) {
        try parser.parse(line, schema: schema, into: &row)
        try schema.validate(row)
        task = try schema.task(of: row)
      } catch {
        let message = "field '\(error.field)': expected \(error.expected), found \(error.found)"
        if schema.skipInvalid {
          result.rejections.append((lineNumber, row.task, message))
          continue
        }
        result.failure = (lineNumber, message)
        break
      }
      if task != currentTask {
        stash()
        if let existing = result.batches[task] {
          current = existing
        } else {
          current = TransitionBatch(format: schema.format)
          result.order.append(task)
        }
        result.batches[task] = nil
        currentTask = task
      }
      current.append(row)
      if row.nextObservationMissing { result.terminalRowsWithoutNext[task, default: 0] += 1 }
    }
    stash()
    return result
  }

  @inline(__always)
  static func isBlank(_ line: UnsafeRawBufferPointer) -> Bool {
    for byte in line where byte != 0x20 && byte != 0x09 { return false }
    return true
  }
}

extension TransitionBatch {
  /// Appends one validated text row in the batch's format.
  @inline(__always)
  mutating func append(_ row: TextRow) {
    switch format.observation.type {
    case .int64:
      observations.int64.append(row.observationIndex)
      nextObservations.int64.append(row.nextObservationIndex)
    case .float64:
      for value in row.observation { observations.float64.append(value) }
      for value in row.nextObservation { nextObservations.float64.append(value) }
    default:
      for value in row.observation { observations.float32.append(Float(value)) }
      for value in row.nextObservation { nextObservations.float32.append(Float(value)) }
    }
    switch format.action.type {
    case .int64: actions.int64.append(row.actionIndex)
    case .float64: for value in row.action { actions.float64.append(value) }
    default: for value in row.action { actions.float32.append(Float(value)) }
    }
    rewards.append(row.reward)
    terminations.append(row.terminated)
    truncations.append(row.truncated)
    episodes.append(row.episode)
    steps.append(row.step)
    if format.hasBehaviorProbabilities { behaviorProbabilities.append(row.behaviorProbability) }
  }
}
