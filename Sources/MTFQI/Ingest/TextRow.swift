/// One parsed transition of a text source, held in reusable scratch storage so that a row is
/// validated whole before any of it reaches a batch (a rejected row leaves nothing behind).
struct TextRow {
  var task: String?
  var episode: Int64 = 0
  var step: Int64 = 0
  /// Observation values (Box) or the state index (Discrete, in `observationIndex`).
  var observation: [Double] = []
  var observationIndex: Int64 = 0
  var nextObservation: [Double] = []
  var nextObservationIndex: Int64 = 0
  var nextObservationMissing = false
  var action: [Double] = []
  var actionIndex: Int64 = 0
  var reward: Double = 0
  var terminated: UInt8 = 0
  var truncated: UInt8 = 0
  var behaviorProbability: Double = 0
}

/// How a text file's observation or action column is shaped: a Discrete integer or a Box vector.
enum TextColumnShape: Equatable {
  case discrete
  case box(width: Int)

  var width: Int {
    switch self {
    case .discrete: 1
    case .box(let width): width
    }
  }
}

/// Routes parsed rows of one text file into per-task batches and task writers, checking them
/// against declared spaces, and flushing every `context.batchRows` rows.
final class TextRowRouter {
  let path: String
  let formatName: String
  let context: IngestContext
  let observationShape: TextColumnShape
  let actionShape: TextColumnShape
  let hasBehaviorProbabilities: Bool
  let format: TaskFormat
  private let sha256: () throws(MTFQIError) -> String

  final class TaskState {
    let writer: TaskWriter
    var batch: TransitionBatch
    init(writer: TaskWriter, batch: TransitionBatch) {
      self.writer = writer
      self.batch = batch
    }

    func append(_ row: TextRow, format: TaskFormat) {
      if format.observation.type == .int64 {
        batch.observations.int64.append(row.observationIndex)
        batch.nextObservations.int64.append(row.nextObservationIndex)
      } else if format.observation.type == .float64 {
        batch.observations.float64.append(contentsOf: row.observation)
        batch.nextObservations.float64.append(contentsOf: row.nextObservation)
      } else {
        for value in row.observation { batch.observations.float32.append(Float(value)) }
        for value in row.nextObservation { batch.nextObservations.float32.append(Float(value)) }
      }
      if format.action.type == .int64 {
        batch.actions.int64.append(row.actionIndex)
      } else if format.action.type == .float64 {
        batch.actions.float64.append(contentsOf: row.action)
      } else {
        for value in row.action { batch.actions.float32.append(Float(value)) }
      }
      batch.rewards.append(row.reward)
      batch.terminations.append(row.terminated)
      batch.truncations.append(row.truncated)
      batch.episodes.append(row.episode)
      batch.steps.append(row.step)
      if format.hasBehaviorProbabilities { batch.behaviorProbabilities.append(row.behaviorProbability) }
    }
  }
  private var states: [String: TaskState] = [:]
  private var lastTask: String?
  private var lastState: TaskState?
  private var pendingRead: [String: Int] = [:]

  init(
    path: String, formatName: String, context: IngestContext, observation: TextColumnShape,
    action: TextColumnShape, hasBehaviorProbabilities: Bool, sha256: @escaping () throws(MTFQIError) -> String
  ) throws(MTFQIError) {
    self.path = path
    self.formatName = formatName
    self.context = context
    self.observationShape = observation
    self.actionShape = action
    self.hasBehaviorProbabilities = hasBehaviorProbabilities
    self.sha256 = sha256
    let floatType: HDF5ElementType = context.options.float32 ? .float32 : .float64
    func column(_ shape: TextColumnShape, declared: Space?, name: String) throws(MTFQIError) -> ColumnFormat {
      switch (shape, declared) {
      case (.discrete, .box(let dims, _, _, _)?) where dims.reduce(1, *) == 1:
        return ColumnFormat(type: floatType, rowShape: [1])
      case (.discrete, .box?):
        throw MTFQIError.invalidInput(
          "\(path): the \(name) is one number per row but the declared \(name) space is \(declared!) ")
      case (.discrete, _):
        return ColumnFormat(type: .int64, rowShape: [])
      case (.box(let width), .discrete?) where width == 1:
        return ColumnFormat(type: .int64, rowShape: [])
      case (.box(let width), .discrete?):
        throw MTFQIError.invalidInput(
          "\(path): the \(name) has \(width) values per row but the declared \(name) space is \(declared!)")
      case (.box(let width), .box(let dims, _, _, _)?):
        guard dims.reduce(1, *) == width else {
          throw MTFQIError.invalidInput(
            "\(path): the \(name) has \(width) values per row but the declared \(name) space \(declared!) has \(dims.reduce(1, *))")
        }
        return ColumnFormat(type: floatType, rowShape: [width])
      case (.box(let width), nil):
        return ColumnFormat(type: floatType, rowShape: [width])
      }
    }
    let observationFormat = try column(observation, declared: context.options.observationSpace, name: "observation")
    let actionFormat = try column(action, declared: context.options.actionSpace, name: "action")
    format = TaskFormat(
      observation: observationFormat, action: actionFormat, hasBehaviorProbabilities: hasBehaviorProbabilities)
  }

  /// Whether observations/actions are stored as integers (Discrete).
  var observationIsDiscrete: Bool { format.observation.type == .int64 }
  var actionIsDiscrete: Bool { format.action.type == .int64 }

  private func state(for task: String, line: Int) throws(MTFQIError) -> TaskState {
    if let lastTask, lastTask == task, let lastState { return lastState }
    if let existing = states[task] {
      lastTask = task
      lastState = existing
      return existing
    }
    var record = SourceRecord(path: path, format: formatName, sha256: "")
    record.rewardSourceDtype = "text"
    let writer = try context.writer(for: task, format: format, source: record, file: path)
    writer.rewardSourceDtypes.insert("text")
    let state = TaskState(writer: writer, batch: TransitionBatch(format: format, capacity: context.batchRows))
    states[task] = state
    lastTask = task
    lastState = state
    return state
  }

  /// Checks a row against the declared spaces. Returns an error message, or nil.
  func checkSpaces(_ row: TextRow) -> (field: String, expected: String, found: String)? {
    if let space = context.options.observationSpace, case .discrete(let n, let start) = space {
      if row.observationIndex < start || row.observationIndex >= start + n {
        return ("obs", "an integer in [\(start), \(start + n - 1)] (declared \(space))", "\(row.observationIndex)")
      }
      if !row.nextObservationMissing && (row.nextObservationIndex < start || row.nextObservationIndex >= start + n) {
        return ("next_obs", "an integer in [\(start), \(start + n - 1)] (declared \(space))", "\(row.nextObservationIndex)")
      }
    }
    if let space = context.options.actionSpace, case .discrete(let n, let start) = space {
      if row.actionIndex < start || row.actionIndex >= start + n {
        return ("action", "an integer in [\(start), \(start + n - 1)] (declared \(space))", "\(row.actionIndex)")
      }
    }
    return nil
  }

  /// Appends a complete, validated row.
  func append(_ row: TextRow, task: String, line: Int) throws(MTFQIError) {
    let state = try state(for: task, line: line)
    state.append(row, format: format)
    if row.nextObservationMissing { state.writer.updateSource { $0.terminalRowsWithoutNextObservation += 1 } }
    if state.batch.count >= context.batchRows {
      try flush(state: state)
    }
  }

  private func flush(state: TaskState) throws(MTFQIError) {
    let rows = state.batch.count
    do {
      try state.writer.append(state.batch)
    } catch {
      throw MTFQIError.hdf5(error)
    }
    state.writer.updateSource { $0.rowsRead += rows }
    state.batch.removeAll()
  }

  /// Counts a rejected row against its task (or the file's first task when unknown).
  func countRejected(task: String?) {
    if let task, let state = states[task] {
      state.writer.updateSource { $0.rowsRejected += 1; $0.rowsRead += 1 }
    } else {
      pendingRead["", default: 0] += 1
    }
  }

  /// Flushes every task's last batch and fills in the file's sha256.
  func finish() throws(MTFQIError) {
    let digest = try sha256()
    for task in states.keys.sorted() {
      guard let state = states[task] else { continue }
      try flush(state: state)
      state.writer.updateSource { $0.sha256 = digest }
    }
    if let unassigned = pendingRead[""], unassigned > 0, let first = states.keys.sorted().first, let state = states[first] {
      state.writer.updateSource { $0.rowsRejected += unassigned; $0.rowsRead += unassigned }
    }
  }

  var taskCount: Int { states.count }
}
