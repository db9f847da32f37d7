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
    // Box columns leave the indices at 0, which every range holds.
    let observation = Self.integerBounds(declaredObservation)
    let observationRange = Self.describe(observation, declaredObservation)
    if row.observationIndex < observation.low || row.observationIndex > observation.high {
      throw RowError(field: "obs", expected: observationRange, found: "\(row.observationIndex)")
    }
    if !row.nextObservationMissing
      && (row.nextObservationIndex < observation.low || row.nextObservationIndex > observation.high)
    {
      throw RowError(field: "next_obs", expected: observationRange, found: "\(row.nextObservationIndex)")
    }
    let action = Self.integerBounds(declaredAction)
    if row.actionIndex < action.low || row.actionIndex > action.high {
      throw RowError(field: "action", expected: Self.describe(action, declaredAction), found: "\(row.actionIndex)")
    }
    if let space = declaredObservation, Self.hasFiniteBounds(space) {
      let scalar = observationShape == .discrete
      try Self.checkBounds(row.observation, space, field: { scalar ? "obs" : "obs_\($0)" })
      if !row.nextObservationMissing {
        try Self.checkBounds(row.nextObservation, space, field: { scalar ? "next_obs" : "next_obs_\($0)" })
      }
    }
    if let space = declaredAction, Self.hasFiniteBounds(space) {
      let scalar = actionShape == .discrete
      try Self.checkBounds(row.action, space, field: { scalar ? "action" : "act_\($0)" })
    }
  }

  static func describe(_ bounds: (low: Int64, high: Int64), _ declared: Space?) -> String {
    if let declared { return "an integer in [\(bounds.low), \(bounds.high)] (declared \(declared))" }
    return "an integer in [-2^53, 2^53] (the range of an inferred Discrete space; declare the space for others)"
  }

  /// Whether a declared Box has a finite bound (its rows are then checked against the bounds,
  /// on the general path only: the fast paths leave such files to it).
  static func hasFiniteBounds(_ space: Space?) -> Bool {
    guard let space, case .box(_, _, let low, let high) = space else { return false }
    return (low ?? []).contains { $0.isFinite } || (high ?? []).contains { $0.isFinite }
  }

  private static func checkBounds(_ values: [Double], _ space: Space, field: (Int) -> String) throws(RowError) {
    guard case .box(_, _, let low, let high) = space else { return }
    for (k, value) in values.enumerated() {
      let lower = low.flatMap { k < $0.count ? $0[k] : nil } ?? -.infinity
      let upper = high.flatMap { k < $0.count ? $0[k] : nil } ?? .infinity
      if !(value >= lower && value <= upper) {
        throw RowError(
          field: field(k), expected: "a number in [\(Space.number(lower)), \(Space.number(upper))] (declared \(space.json))",
          found: "\(value)")
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

  /// The largest magnitude of a Discrete value when the space is inferred: the inferred space
  /// is computed from the lowest and highest values, kept as Double (exact up to 2^53), and its
  /// size must fit in Int64.
  static let inferredDiscreteLimit: Int64 = 1 << 53

  /// The most numbers an observation or action of a text log may hold (obs_0..obs_{d-1}
  /// columns, or a JSON array): column buffers hold thousands of rows of this width.
  static let maximumWidth = 10_000

  /// The integers a declared Discrete space takes, as the fast parsers check them
  /// (±`inferredDiscreteLimit` when nothing is declared).
  static func integerBounds(_ space: Space?) -> (low: Int64, high: Int64) {
    guard let space, case .discrete(let n, let first) = space else {
      return (-inferredDiscreteLimit, inferredDiscreteLimit)
    }
    let (high, overflow) = first.addingReportingOverflow(n - 1)
    return (first, overflow ? .max : high)
  }

  /// The row's task as the file spells it: its own, else --task (or, without --task, the file's
  /// name without its suffixes); none at all is a row error.
  /// (The router turns it into the store's task name: --task renames a file's single task,
  /// --task-map renames several.)
  func task(of row: TextRow) throws(RowError) -> String {
    if let record = row.task { return record }
    if let flag = taskFlag { return flag }
    throw RowError(field: "task", expected: "a task (a task column/field, or --task NAME)", found: "none")
  }
}

/// Turns one line into a row (CSV or JSON Lines).
protocol TextLineParser: Sendable {
  func parse(_ line: UnsafeRawBufferPointer, schema: TextSchema, into row: inout TextRow) throws(RowError)

  /// A fast path for common lines: parses the lines from `start` on, one after another, in
  /// one pass each, straight into the next rows of `columns` (the columns of `task`), and
  /// returns where it stopped and how many rows it added. It stops before the first line that
  /// is anything out of the ordinary, belongs to another task, or fails a check: the caller
  /// then cuts that line and calls `parse`, which decides it and words any error. A row it
  /// accepts is exactly the row `parse` makes.
  func parseCommonRows(
    _ text: UnsafeRawBufferPointer, from start: Int, schema: TextSchema, task: String, into columns: TextColumns
  ) -> (next: Int, rows: Int)

  /// Whether `parseCommonRows` can take any line at all.
  var hasCommonPath: Bool { get }
}

extension TextLineParser {
  func parseCommonRows(
    _ text: UnsafeRawBufferPointer, from start: Int, schema: TextSchema, task: String, into columns: TextColumns
  ) -> (next: Int, rows: Int) {
    (start, 0)
  }

  var hasCommonPath: Bool { false }
}

/// The rows one worker parsed from its share of a block, per task in order of appearance.
struct ParsedBlock: @unchecked Sendable {
  var batches: [String: TransitionBatch] = [:]
  var order: [String] = []
  /// The line where each task of `order` first appears (for messages about the task's name).
  var firstLines: [String: Int] = [:]
  var terminalRowsWithoutNext: [String: Int] = [:]
  /// Rejected rows (skip-invalid): line number, task if known, message.
  var rejections: [(line: Int, task: String?, message: String)] = []
  /// The first bad row when not skipping: line number and message.
  var failure: (line: Int, message: String)?
  /// Lines seen (including blank ones) and data rows (non-blank).
  var lines = 0
  var dataRows = 0

  /// Moves the line numbers of the failure and rejections from block-relative to file lines.
  mutating func shiftLines(by offset: Int) {
    if let failure { self.failure = (failure.line + offset, failure.message) }
    if !rejections.isEmpty { rejections = rejections.map { ($0.line + offset, $0.task, $0.message) } }
    if !firstLines.isEmpty { firstLines = firstLines.mapValues { $0 + offset } }
  }
}

/// Parses the blocks of a text file on two threads (the machine's cores) while the calling
/// thread writes the rows to the store in file order. Each parser thread takes the next block
/// from the reader, parses it whole into per-task batches and leaves the result; the writer
/// takes the results by block number, so the store gets the rows in the order of the file.
/// Nobody spins: threads that wait sleep on one condition. All HDF5 calls stay on the writer.
enum ParallelLines {
  static let parserThreads = 2
  /// Parsed blocks allowed to wait for the writer (memory stays flat in input size).
  static let waitingResults = 2

  /// What a parser thread leaves for the writer, by block number.
  private enum Outcome {
    case parsed(ParsedBlock)
    case end
    case failure(MTFQIError)
  }

  /// The state parser threads and the writer share, under `condition`.
  private final class Exchange: @unchecked Sendable {
    let condition = NSCondition()
    var outcomes: [Int: Outcome] = [:]
    var running = 0
    var cancelled = false
    /// Emptied batches (their capacity kept) for the parsers to fill again, so that each block
    /// does not allocate its columns afresh (fresh pages fault in zeroed, freed ones are unmapped).
    var spareBatches: [TransitionBatch] = []

    func takeBatch(format: TaskFormat) -> TransitionBatch {
      condition.lock()
      let spare = spareBatches.popLast()
      condition.unlock()
      return spare ?? TransitionBatch(format: format)
    }

    /// Takes back the batches of a written block. They are only reused when `block` holds the
    /// last reference to their arrays (otherwise emptying them would copy).
    func recycle(_ block: inout ParsedBlock) {
      var batches = Array(block.batches.values)
      block.batches = [:]
      for index in batches.indices { batches[index].removeAll() }
      condition.lock()
      spareBatches.append(contentsOf: batches.prefix(max(0, 2 * ParallelLines.parserThreads + 2 - spareBatches.count)))
      condition.unlock()
    }
  }

  /// Parses every block of `reader` (whose first line is line `firstLine` + 1 of the file) and
  /// hands the rows to `router` in file order, calling `afterBlock` after each block. A bad row
  /// (when not skipping) is the error, after the rows before it were written; a read error comes
  /// after the blocks before it.
  static func stream<P: TextLineParser>(
    _ reader: PrefetchingBlockReader, firstLine: Int, parser: P, router: TextRowRouter,
    afterBlock: () -> Void
  ) throws(MTFQIError) {
    let schema = router.schema
    let exchange = Exchange()
    reader.start()
    exchange.running = parserThreads
    for _ in 0..<parserThreads {
      let thread = Thread {
        parseBlocks(from: reader, parser: parser, schema: schema, exchange: exchange)
      }
      thread.stackSize = 1 << 20
      thread.start()
    }
    defer {
      // Stop the reader and the parsers and wait for them: nothing outlives this call.
      exchange.condition.lock()
      exchange.cancelled = true
      exchange.condition.broadcast()
      exchange.condition.unlock()
      reader.stop()
      exchange.condition.lock()
      while exchange.running > 0 { exchange.condition.wait() }
      exchange.condition.unlock()
    }
    var linesBefore = firstLine
    var sequence = 0
    while true {
      exchange.condition.lock()
      while exchange.outcomes[sequence] == nil { exchange.condition.wait() }
      var outcome = exchange.outcomes.removeValue(forKey: sequence)
      exchange.condition.broadcast()
      exchange.condition.unlock()
      switch outcome {
      case .parsed(var block)?:
        outcome = nil  // `block` alone holds the batches now, so they can be recycled
        block.shiftLines(by: linesBefore)
        linesBefore += block.lines
        try router.absorb(block)
        exchange.recycle(&block)
        afterBlock()
      case .failure(let error)?:
        throw error
      case .end?, nil:
        return
      }
      sequence += 1
    }
  }

  /// A parser thread: blocks from the reader until its end, a failure or cancellation.
  private static func parseBlocks<P: TextLineParser>(
    from reader: PrefetchingBlockReader, parser: P, schema: TextSchema, exchange: Exchange
  ) {
    defer {
      exchange.condition.lock()
      exchange.running -= 1
      exchange.condition.broadcast()
      exchange.condition.unlock()
    }
    let pool = TextColumnsPool()
    while true {
      // Wait while enough parsed blocks wait for the writer.
      exchange.condition.lock()
      while exchange.outcomes.count >= waitingResults && !exchange.cancelled { exchange.condition.wait() }
      let cancelled = exchange.cancelled
      exchange.condition.unlock()
      if cancelled { return }
      let (sequence, item) = reader.next()
      let outcome: Outcome
      switch item {
      case .part(let bytes, let buffer):
        outcome = .parsed(
          parseSlice(bytes, parser: parser, schema: schema, pool: pool) { exchange.takeBatch(format: schema.format) })
        reader.recycle(buffer)
      case .end: outcome = .end
      case .failure(let error): outcome = .failure(error)
      }
      exchange.condition.lock()
      exchange.outcomes[sequence] = outcome
      exchange.condition.broadcast()
      exchange.condition.unlock()
      if case .parsed = outcome { continue }
      return
    }
  }

  /// Parses one slice of whole lines whose first line is line `firstLine` + 1 of the file.
  static func parse<P: TextLineParser>(
    _ slice: UnsafeRawBufferPointer, firstLine: Int, parser: P, schema: TextSchema
  ) -> ParsedBlock {
    var block = parseSlice(slice, parser: parser, schema: schema, pool: TextColumnsPool()) {
      TransitionBatch(format: schema.format)
    }
    block.shiftLines(by: firstLine)
    return block
  }

  /// Parses the lines of a slice. Line numbers in the result are 0-based within the slice
  /// (`parse` shifts them); the slice holds whole lines.
  static func parseSlice<P: TextLineParser>(
    _ slice: UnsafeRawBufferPointer, parser: P, schema: TextSchema, pool: TextColumnsPool,
    newBatch: () -> TransitionBatch
  ) -> ParsedBlock {
    var result = ParsedBlock()
    var row = TextRow()
    row.observation = Array(repeating: 0, count: schema.observationShape.width)
    row.nextObservation = row.observation
    row.action = Array(repeating: 0, count: schema.actionShape.width)
    guard let base = slice.baseAddress else { return result }
    var start = 0
    // Room for the slice's rows, estimated from its first line, so the columns do not grow by
    // repeated doubling (copies and page faults) in the first block.
    var estimatedRows = 1024
    if let firstNewline = memchr(base, 0x0A, slice.count) {
      let firstLength = max(16, UnsafeRawPointer(firstNewline) - base + 1)
      estimatedRows = min(slice.count / firstLength + slice.count / (8 * firstLength) + 16, 1 << 22)
    }
    var columnsByTask: [String: TextColumns] = [:]
    var currentTask: String?
    var current: TextColumns?
    let hasCommonPath = parser.hasCommonPath
    while start < slice.count {
      // Common rows go straight into the current task's columns, as many as follow each other.
      if hasCommonPath, let current, let currentTask {
        let (next, rows) = parser.parseCommonRows(slice, from: start, schema: schema, task: currentTask, into: current)
        start = next
        result.lines += rows
        result.dataRows += rows
        if start >= slice.count { break }
      }
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
        // A terminated Discrete row without a next observation: its own state is the
        // placeholder (marked in next_observation_missing; it never bootstraps).
        if row.nextObservationMissing && schema.observationIsDiscrete { row.nextObservationIndex = row.observationIndex }
      } catch {
        let message = "field '\(error.field)': expected \(error.expected), found \(error.found)"
        if schema.skipInvalid {
          result.rejections.append((lineNumber, row.task, message))
          continue
        }
        result.failure = (lineNumber, message)
        break
      }
      if current == nil || task != currentTask {
        if let existing = columnsByTask[task] {
          current = existing
        } else {
          let columns = pool.take(format: schema.format)
          columns.reserveRow(atLeast: estimatedRows)
          columnsByTask[task] = columns
          result.order.append(task)
          result.firstLines[task] = lineNumber
          current = columns
        }
        currentTask = task
      }
      current?.append(row)
      if row.nextObservationMissing { result.terminalRowsWithoutNext[task, default: 0] += 1 }
    }
    for task in result.order {
      guard let columns = columnsByTask[task] else { continue }
      var batch = newBatch()
      columns.moveRows(into: &batch)
      result.batches[task] = batch
      pool.giveBack(columns)
    }
    return result
  }

  @inline(__always)
  static func isBlank(_ line: UnsafeRawBufferPointer) -> Bool {
    for byte in line where byte != 0x20 && byte != 0x09 { return false }
    return true
  }
}
