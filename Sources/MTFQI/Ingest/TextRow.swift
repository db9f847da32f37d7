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

/// Hands the rows parsed from one text file to the task writers (creating each task on first
/// use), records rejections, and fills in the file's provenance.
final class TextRowRouter {
  let path: String
  let formatName: String
  let context: IngestContext
  let schema: TextSchema
  private let sha256: () throws(MTFQIError) -> String
  private var writers: [String: TaskWriter] = [:]
  /// The line that fixed the file's shapes (the CSV header, the first JSON record).
  let shapeLine: Int
  private var unassignedRejections = 0
  private(set) var dataRows = 0

  var format: TaskFormat { schema.format }
  var observationShape: TextColumnShape { schema.observationShape }
  var actionShape: TextColumnShape { schema.actionShape }
  var hasBehaviorProbabilities: Bool { schema.hasBehaviorProbabilities }

  init(
    path: String, formatName: String, context: IngestContext, observation: TextColumnShape,
    action: TextColumnShape, hasBehaviorProbabilities: Bool, shapeLine: Int,
    sha256: @escaping () throws(MTFQIError) -> String
  ) throws(MTFQIError) {
    self.path = path
    self.shapeLine = shapeLine
    self.formatName = formatName
    self.context = context
    self.sha256 = sha256
    let floatType: HDF5ElementType = context.options.float32 ? .float32 : .float64
    func column(_ shape: TextColumnShape, declared: Space?, name: String) throws(MTFQIError) -> ColumnFormat {
      switch (shape, declared) {
      case (.discrete, .box(let dims, _, _, _)?) where dims.reduce(1, *) == 1:
        return ColumnFormat(type: floatType, rowShape: [1])
      case (.discrete, .box(let dims, _, _, _)?):
        throw MTFQIError.invalidInput(
          "\(path): the \(name) is one number per row but the declared \(name) space has \(dims.reduce(1, *)) values")
      case (.discrete, _):
        return ColumnFormat(type: .int64, rowShape: [])
      case (.box(let width), .discrete?) where width == 1:
        return ColumnFormat(type: .int64, rowShape: [])
      case (.box(let width), .discrete?):
        throw MTFQIError.invalidInput(
          "\(path): the \(name) has \(width) values per row but the declared \(name) space is Discrete")
      case (.box(let width), .box(let dims, _, _, _)?):
        guard dims.reduce(1, *) == width else {
          throw MTFQIError.invalidInput(
            "\(path): the \(name) has \(width) values per row but the declared \(name) space has \(dims.reduce(1, *))")
        }
        return ColumnFormat(type: floatType, rowShape: [width])
      case (.box(let width), nil):
        return ColumnFormat(type: floatType, rowShape: [width])
      }
    }
    let options = context.options
    let observationFormat = try column(observation, declared: options.observationSpace, name: "observation")
    let actionFormat = try column(action, declared: options.actionSpace, name: "action")
    schema = TextSchema(
      format: TaskFormat(
        observation: observationFormat, action: actionFormat, hasBehaviorProbabilities: hasBehaviorProbabilities),
      observationShape: observation, actionShape: action, hasBehaviorProbabilities: hasBehaviorProbabilities,
      declaredObservation: options.observationSpace, declaredAction: options.actionSpace,
      taskFlag: options.task ?? Self.taskName(fromFile: path), skipInvalid: options.skipInvalid)
  }

  /// The task of records without a task column or field when no --task is given: the file's
  /// name without its log suffixes (`logs/reach.csv.gz` feeds task `reach`), with characters
  /// outside letters, digits, '_', '-', '.' replaced by '_' as for HDF5 sources.
  static func taskName(fromFile path: String) -> String {
    var name = path.split(separator: "/", omittingEmptySubsequences: true).last.map(String.init) ?? path
    for suffix in [".gz"] where name.hasSuffix(suffix) { name.removeLast(suffix.count) }
    for suffix in [".csv", ".jsonl", ".ndjson", ".json", ".txt"] where name.hasSuffix(suffix) {
      name.removeLast(suffix.count)
      break
    }
    return HDF5Source.taskName(from: name, fallback: "task")
  }

  /// Whether observations/actions are stored as integers (Discrete).
  var observationIsDiscrete: Bool { schema.observationIsDiscrete }
  var actionIsDiscrete: Bool { schema.actionIsDiscrete }

  /// The store's name of each task the file spells `raw` (see IngestContext.taskName).
  private var names: [String: String] = [:]
  /// The file's own task ids that --task renamed (at most one).
  private var renamed: [String] = []

  private func name(of raw: String, line: Int) throws(MTFQIError) -> String {
    if let known = names[raw] { return known }
    let name = try context.taskName(raw, file: path, location: "\(line)", renamed: &renamed)
    names[raw] = name
    return name
  }

  private func writer(for task: String) throws(MTFQIError) -> TaskWriter {
    if let existing = writers[task] { return existing }
    var record = SourceRecord(path: path, format: formatName, sha256: "")
    record.rewardSourceDtype = "text"
    let writer = try context.writer(for: task, format: format, source: record, file: "\(path):\(shapeLine)")
    writer.rewardSourceDtypes.insert("text")
    writers[task] = writer
    return writer
  }

  /// Writes one parsed block: rejections first (skip-invalid), then each task's rows; a bad row
  /// (not skipping) becomes the run's error after the rows before it.
  func absorb(_ block: ParsedBlock) throws(MTFQIError) {
    dataRows += block.dataRows
    for raw in block.order {
      guard let batch = block.batches[raw], batch.count > 0 else { continue }
      let task = try name(of: raw, line: block.firstLines[raw] ?? shapeLine)
      let writer = try writer(for: task)
      do {
        try writer.append(batch)
      } catch {
        throw MTFQIError.hdf5(error)
      }
      let missing = block.terminalRowsWithoutNext[raw] ?? 0
      writer.updateSource {
        $0.rowsRead += batch.count
        $0.terminalRowsWithoutNextObservation += missing
      }
    }
    for rejection in block.rejections {
      context.reject(file: path, location: "line \(rejection.line)", message: rejection.message)
      if let raw = rejection.task, let task = names[raw], let writer = writers[task] {
        writer.updateSource { $0.rowsRejected += 1; $0.rowsRead += 1 }
      } else {
        unassignedRejections += 1
      }
    }
    if let failure = block.failure {
      throw MTFQIError.invalidInput("\(path):\(failure.line): \(failure.message)")
    }
  }

  /// Records a rejected row found outside the block parser (e.g. a wrong field count).
  func rejectOutside(line: Int, message: String) {
    dataRows += 1
    context.reject(file: path, location: "line \(line)", message: message)
    unassignedRejections += 1
  }

  /// Fills in the file's sha256 (and rejections whose task is unknown, on the file's first task).
  func finish() throws(MTFQIError) {
    let digest = try sha256()
    for writer in writers.values {
      writer.updateSource { $0.sha256 = digest }
    }
    if unassignedRejections > 0, let first = writers.keys.sorted().first, let writer = writers[first] {
      let count = unassignedRejections
      writer.updateSource { $0.rowsRejected += count; $0.rowsRead += count }
    }
  }
}
