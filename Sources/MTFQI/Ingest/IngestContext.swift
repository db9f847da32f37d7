import Foundation

/// One rejected row (with `--skip-invalid`), as written to the rejection report.
public struct Rejection: Codable, Sendable {
  public var file: String
  /// "line 17" or "row 42 of /observations".
  public var location: String
  public var message: String
}

/// What readers see of the run: options, the task writers of the store being written, and the
/// rejection report. Readers call `writer(for:format:source:)` for each task they meet, append
/// batches of at most `batchRows` rows, and call `finishSources()` when their file is done.
public final class IngestContext {
  public let options: IngestOptions
  let store: StoreWriter
  /// Rows per batch handed to a task writer.
  public var batchRows: Int { options.batchRows }
  private var openSources: [TaskWriter] = []
  public private(set) var rejections: [Rejection] = []
  public private(set) var rejectionCount = 0
  /// Tasks that existed in the store before this run and were kept.
  let preexistingTasks: Set<String>
  let progress: Progress?

  init(options: IngestOptions, store: StoreWriter, preexistingTasks: Set<String>, progress: Progress?) {
    self.options = options
    self.store = store
    self.preexistingTasks = preexistingTasks
    self.progress = progress
  }

  /// The store's name of a task that a text file spells `raw` (its task column/field, or
  /// --task for records without one): `--task-map RAW=NEW` first; else `--task NAME` renames
  /// the file's single task (a second distinct task in the file is an error: `renamed` holds
  /// the file's ids renamed so far); else `raw`. The name must be a valid task name; messages
  /// name the file and line and show the name cut to 64 characters.
  public func taskName(_ raw: String, file: String, location: String, renamed: inout [String]) throws(MTFQIError)
    -> String
  {
    let name: String
    if let mapped = options.taskMap[raw] {
      name = mapped
    } else if let flag = options.task {
      // Every distinct id of the file counts (records without a task count as --task's own).
      if !renamed.contains(raw) {
        if let other = renamed.first {
          throw MTFQIError.invalidInput(
            "\(file):\(location): field 'task': --task \(StoreLayout.shownName(flag)) renames the single task of a file, but this file has tasks '\(StoreLayout.shownName(other))' and '\(StoreLayout.shownName(raw))': rename each with --task-map OLD=NEW instead")
        }
        renamed.append(raw)
      }
      name = flag
    } else {
      name = raw
    }
    try Self.checkTaskName(name, file: file, location: location, raw: raw)
    return name
  }

  /// A task named by an HDF5 source (`--task`, or the dataset id / file name, which
  /// `--task-map` may rename).
  public func taskName(derived: String, file: String) throws(MTFQIError) -> String {
    let name = options.task ?? options.taskMap[derived] ?? derived
    try Self.checkTaskName(name, file: file, location: nil, raw: derived)
    return name
  }

  static func checkTaskName(_ name: String, file: String, location: String?, raw: String) throws(MTFQIError) {
    guard !StoreLayout.isValidTaskName(name) else { return }
    let place = location.map { "\(file):\($0)" } ?? file
    let origin = name == raw ? "" : " (for the file's task '\(StoreLayout.shownName(raw))')"
    let length = name.utf8.count > 128 ? " and at most 128 bytes (it has \(name.utf8.count))" : ""
    throw MTFQIError.invalidInput(
      "\(place): field 'task': expected a task name of letters, digits, '_', '-' and '.', not starting with '.'\(length), found '\(StoreLayout.shownName(name))'\(origin)")
  }

  /// The writer of `task`, started with `format` on first use, with `source` begun on it.
  /// A task that exists in the store already is an error unless `--replace`; a task met again
  /// in another file must have the same format.
  public func writer(for task: String, format: TaskFormat, source: SourceRecord, file: String)
    throws(MTFQIError) -> TaskWriter
  {
    if preexistingTasks.contains(task) {
      throw MTFQIError.conflict(
        "\(file): task '\(task)' already exists in \(options.output); pass --replace to replace it")
    }
    let writer: TaskWriter
    if let existing = store.existingWriter(task) {
      guard existing.format == format else {
        let earlier = existing.sources.first.map { " (as in \($0.path))" } ?? ""
        func column(_ c: ColumnFormat) -> String {
          c.rowShape.isEmpty ? "one \(c.type.name) value per row" : "\(c.width) \(c.type.name) values per row"
        }
        let (field, expected, found): (String, String, String)
        if existing.format.observation != format.observation {
          (field, expected, found) = ("obs", column(existing.format.observation), column(format.observation))
        } else if existing.format.action != format.action {
          (field, expected, found) = ("action", column(existing.format.action), column(format.action))
        } else {
          (field, expected, found) = (
            "behavior_prob", existing.format.hasBehaviorProbabilities ? "a value" : "no value",
            format.hasBehaviorProbabilities ? "a value" : "none")
        }
        throw MTFQIError.invalidInput(
          "\(file): task '\(task)': field '\(field)': expected \(expected)\(earlier), found \(found)")
      }
      writer = existing
    } else {
      writer = try store.startTask(task, format: format)
      writer.declaredObservationSpace = options.observationSpace
      writer.declaredActionSpace = options.actionSpace
    }
    if !openSources.contains(where: { $0 === writer }) {
      writer.beginSource(source)
      openSources.append(writer)
    }
    return writer
  }

  private func describe(_ format: TaskFormat) -> String {
    func column(_ c: ColumnFormat) -> String {
      c.rowShape.isEmpty ? "scalar \(c.type.name)" : "\(c.type.name) of shape (\(c.rowShape.map(String.init).joined(separator: ",")))"
    }
    return "observations \(column(format.observation)), actions \(column(format.action))"
      + (format.hasBehaviorProbabilities ? ", with behavior_prob" : ", without behavior_prob")
  }

  /// Ends every source begun by the current file (renumbering colliding episode ids).
  public func finishSources() throws(MTFQIError) {
    do {
      for writer in openSources { try writer.endSource() }
    } catch {
      throw MTFQIError.hdf5(error)
    }
    openSources.removeAll()
  }

  /// Records a rejected row (skip-invalid mode); the reader counts it in its source record.
  public func reject(file: String, location: String, message: String) {
    rejectionCount += 1
    if rejections.count < 1_000_000 {
      rejections.append(Rejection(file: file, location: location, message: message))
    }
  }

  /// Reports bytes or rows done for the progress line.
  public func reportProgress(file: String, done: Int64, total: Int64?) {
    progress?.update(label: file, done: done, total: total)
  }
}
