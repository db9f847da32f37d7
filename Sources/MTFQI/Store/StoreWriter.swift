import Foundation

/// Writes a store (schemas/store.md) to a temporary file beside the destination and renames it
/// into place on `commit()`; an existing store is never modified in place. With `--append` the
/// existing tasks are copied object by object (`H5Ocopy`) into the new file first.
public final class StoreWriter {
  public let destination: String
  public let compression: HDF5Compression
  private let output: AtomicOutput
  private var file: HDF5File?
  private var tasksGroup: HDF5Group?
  private var writers: [String: TaskWriter] = [:]
  private var writerOrder: [String] = []
  /// Tasks copied from the existing store.
  public private(set) var copiedTasks: [String] = []
  /// The recorded spaces of the copied tasks (their own attributes).
  private var copiedInfos: [TaskInfo] = []
  /// The existing store's declared spaces (with --append): they stay the store's, and every
  /// task's data must lie inside them.
  public var leadingObservation: StoreSpaces.Part?
  public var leadingAction: StoreSpaces.Part?

  public init(destination: String, compression: HDF5Compression = .none) throws(MTFQIError) {
    self.destination = destination
    self.compression = compression
    output = try AtomicOutput(destination: destination)
    do {
      let file = try HDF5File.create(output.temporaryPath)
      let root = try file.root()
      try root.setAttribute("format", StoreLayout.format)
      try root.setAttribute("format_version", StoreLayout.formatVersion)
      tasksGroup = try root.createGroup(StoreLayout.tasksGroup)
      self.file = file
    } catch {
      throw MTFQIError.hdf5(error)
    }
    output.writeBackWhileWriting()
  }

  /// Copies every task of an existing store except `excluding` (tasks being replaced).
  public func copyTasks(from existing: StoreReader, excluding: Set<String>) throws(MTFQIError) {
    guard let tasksGroup else { return }
    do {
      let source = try existing.file.group("/" + StoreLayout.tasksGroup)
      for task in existing.taskNames where !excluding.contains(task) {
        try source.copy(task, to: tasksGroup)
        copiedTasks.append(task)
        copiedInfos.append(try existing.info(task))
      }
    } catch let error as HDF5Error {
      throw MTFQIError.hdf5(error)
    } catch let error as MTFQIError {
      throw error
    } catch {
      throw MTFQIError.invalidInput("\(existing.path): \(error)")
    }
  }

  /// The store's spaces: the existing store's declared ones, the copied tasks' and the tasks
  /// written by this run merged (`StoreSpaces.combine`: declared wins and is checked, inferred
  /// parts widen). Nil while the store has no task.
  public func storeSpaces() throws(MTFQIError) -> StoreSpaces? {
    var infos = copiedInfos
    for name in writerOrder {
      guard let writer = writers[name] else { continue }
      let observation = writer.observationSpace()
      let action = writer.actionSpace()
      // A declared space is checked against the data's own range (Discrete values were checked
      // row by row already; Box bounds are checked here).
      if (observation.declared || action.declared), let observed = writer.observedSpaces() {
        for (role, declared, data) in [
          ("observation", observation, observed.observation), ("action", action, observed.action),
        ] where declared.declared {
          if let problem = declared.space.containmentProblem(
            data, inner: "the \(role)s of task '\(StoreLayout.shownName(name))'", outer: "the declared \(role) space", bounds: true)
          {
            let files = writer.sources.map(\.path).joined(separator: ", ")
            throw MTFQIError.invalidInput(
              "\(files): data outside the declared \(role) space \(declared.space.json): \(problem)")
          }
        }
      }
      infos.append(
        TaskInfo(
          name: name, observationSpace: observation.space, observationSpaceDeclared: observation.declared,
          actionSpace: action.space, actionSpaceDeclared: action.declared, transitions: writer.rowCount,
          episodes: writer.episodeCount, sources: writer.sources, observationType: writer.format.observation.type,
          actionType: writer.format.action.type, hasBehaviorProbabilities: writer.format.hasBehaviorProbabilities,
          rewardSourceDtype: ""))
    }
    return try StoreSpaces.merging(
      infos, store: destination, leadingObservation: leadingObservation, leadingAction: leadingAction)
  }

  /// Tasks written by this run, in the order they were started.
  public var writtenTaskNames: [String] { writerOrder }

  /// Whether a task is already in the new store (copied or being written).
  public func hasTask(_ name: String) -> Bool { writers[name] != nil || copiedTasks.contains(name) }

  /// The writer of a task being ingested in this run, if it was started.
  public func existingWriter(_ name: String) -> TaskWriter? { writers[name] }

  /// Starts a task. The format is fixed by its first source; a later source of the same task
  /// must match it (checked by the caller, which can name the file).
  public func startTask(_ name: String, format: TaskFormat) throws(MTFQIError) -> TaskWriter {
    guard let tasksGroup else { throw MTFQIError.conflict("the store writer is closed") }
    guard StoreLayout.isValidTaskName(name) else {
      throw MTFQIError.invalidInput(
        "task name '\(name)' is not valid: use letters, digits, '_', '-' and '.', not starting with '.'")
    }
    do {
      let writer = try TaskWriter(name: name, format: format, parent: tasksGroup, compression: compression)
      writers[name] = writer
      writerOrder.append(name)
      return writer
    } catch {
      throw MTFQIError.hdf5(error)
    }
  }

  /// Writes every task's attributes, closes the file and renames it over the destination.
  public func commit() throws(MTFQIError) {
    if let spaces = try storeSpaces(), let file {
      do {
        let root = try file.root()
        try root.setAttribute(StoreLayout.observationSpaceAttribute, spaces.observation.json)
        try root.setAttribute(StoreLayout.observationOriginAttribute, spaces.observationDeclared ? "declared" : "inferred")
        try root.setAttribute(StoreLayout.actionSpaceAttribute, spaces.action.json)
        try root.setAttribute(StoreLayout.actionOriginAttribute, spaces.actionDeclared ? "declared" : "inferred")
      } catch {
        throw MTFQIError.hdf5(error)
      }
    }
    for name in writerOrder {
      if let writer = writers[name] { try writer.finish() }
    }
    // Close the tasks one by one in the order they were started: closing a dataset flushes its
    // cached chunks, which fixes where they land in the file. Emptying the dictionary would close
    // them in hash order, which Swift seeds per process, so the same input gave different bytes.
    for name in writerOrder { writers[name] = nil }
    writers.removeAll()
    tasksGroup = nil
    do {
      try file?.close()
    } catch {
      throw MTFQIError.hdf5(error)
    }
    file = nil
    try output.commit()
  }

  /// Drops the temporary file; the destination is untouched.
  public func abort() {
    writers.removeAll()
    tasksGroup = nil
    file = nil
    output.abort()
  }
}
