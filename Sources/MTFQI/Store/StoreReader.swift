import Foundation

/// A task of a store as recorded in its attributes.
public struct TaskInfo: Sendable {
  public var name: String
  public var observationSpace: Space
  public var observationSpaceDeclared: Bool
  public var actionSpace: Space
  public var actionSpaceDeclared: Bool
  public var transitions: Int
  public var episodes: Int
  public var sources: [SourceRecord]
  public var observationType: HDF5ElementType
  public var actionType: HDF5ElementType
  public var hasBehaviorProbabilities: Bool
  public var rewardSourceDtype: String
}

/// Reads a store written by `mtfqi-ingest` (schemas/store.md). Opening checks the root
/// attributes, so a file that is not a store is refused with a clear message.
public final class StoreReader {
  public let path: String
  let file: HDF5File
  /// Task names in name order.
  public let taskNames: [String]
  private var cachedSpaces: StoreSpaces?

  public init(path: String) throws(MTFQIError) {
    self.path = path
    do {
      file = try HDF5File.open(path)
      let root = try file.root()
      guard try root.hasAttribute("format"), try root.attributeIsString("format"),
        try root.stringAttribute("format") == StoreLayout.format
      else {
        throw MTFQIError.invalidInput(
          "\(path): not an mtfqi store (expected the root attribute format = \"\(StoreLayout.format)\")")
      }
      let version = try root.scalarAttribute("format_version", as: Int64.self)
      guard version == StoreLayout.formatVersion else {
        throw MTFQIError.invalidInput(
          "\(path): store format_version \(version) is not supported (this mtfqi reads version \(StoreLayout.formatVersion))")
      }
      taskNames = try file.group("/" + StoreLayout.tasksGroup).memberNames()
    } catch let error as HDF5Error {
      throw MTFQIError.hdf5(error)
    } catch let error as MTFQIError {
      throw error
    } catch {
      throw MTFQIError.invalidInput("\(path): \(error)")
    }
  }

  func taskGroup(_ name: String) throws(MTFQIError) -> HDF5Group {
    guard taskNames.contains(name) else {
      throw MTFQIError.invalidInput(
        "\(path): no task '\(name)' (the store holds: \(taskNames.joined(separator: ", ")))")
    }
    do {
      return try file.group("/\(StoreLayout.tasksGroup)/\(name)")
    } catch {
      throw MTFQIError.hdf5(error)
    }
  }

  /// The recorded description of a task.
  public func info(_ name: String) throws(MTFQIError) -> TaskInfo {
    let group = try taskGroup(name)
    do {
      let context = "\(path): /tasks/\(name)"
      let sourcesText = try group.stringAttribute("sources")
      let sources: [SourceRecord]
      do {
        sources = try JSONDecoder().decode([SourceRecord].self, from: Data(sourcesText.utf8))
      } catch {
        throw MTFQIError.invalidInput("\(context): attribute 'sources' is not valid provenance JSON: \(error)")
      }
      let observations = try group.dataset(StoreLayout.observations)
      let actions = try group.dataset(StoreLayout.actions)
      if try group.contains(StoreLayout.nextObservationMissing) {
        // A placeholder next observation must never be bootstrapped from: every row the mask
        // marks must be terminal.
        let missing = try group.dataset(StoreLayout.nextObservationMissing).read(as: UInt8.self)
        let terminations = try group.dataset(StoreLayout.terminations).read(as: UInt8.self)
        for (row, flag) in missing.enumerated() where flag != 0 && (row >= terminations.count || terminations[row] == 0) {
          throw MTFQIError.invalidInput(
            "\(context)/\(StoreLayout.nextObservationMissing) row \(row): the next observation is missing but the row is not terminal (terminations = 0): it would bootstrap from a placeholder")
        }
      }
      return TaskInfo(
        name: name,
        observationSpace: try Space.parse(try group.stringAttribute("observation_space"), context: context + " observation_space"),
        observationSpaceDeclared: try group.stringAttribute("observation_space_origin") == "declared",
        actionSpace: try Space.parse(try group.stringAttribute("action_space"), context: context + " action_space"),
        actionSpaceDeclared: try group.stringAttribute("action_space_origin") == "declared",
        transitions: Int(try group.scalarAttribute("n_transitions", as: Int64.self)),
        episodes: Int(try group.scalarAttribute("n_episodes", as: Int64.self)),
        sources: sources,
        observationType: observations.elementType ?? .float64,
        actionType: actions.elementType ?? .int64,
        hasBehaviorProbabilities: try group.contains(StoreLayout.behaviorProbabilities),
        rewardSourceDtype: try group.hasAttribute("reward_source_dtype")
          ? try group.stringAttribute("reward_source_dtype") : "")
    } catch let error as HDF5Error {
      throw MTFQIError.hdf5(error)
    } catch let error as MTFQIError {
      throw error
    } catch {
      throw MTFQIError.invalidInput("\(path): \(error)")
    }
  }

  /// Whether the store records its spaces at the root (stores written before store-level spaces
  /// do not; `spaces()` then merges the tasks' own).
  public func spacesRecorded() throws(MTFQIError) -> Bool {
    do {
      return try file.root().hasAttribute(StoreLayout.observationSpaceAttribute)
    } catch {
      throw MTFQIError.hdf5(error)
    }
  }

  /// Whether `spaces()` succeeds: always for a store that records its spaces; for an older store,
  /// when its tasks' own spaces merge (same kinds and shapes, declared ones holding the rest).
  public func spacesMerge() -> Bool {
    do {
      _ = try spaces()
      return true
    } catch {
      return false
    }
  }

  /// The store's observation and action spaces: the root attributes, or (a store written before
  /// they existed) the merge of the tasks' own space attributes by the rules the writer uses
  /// (`StoreSpaces.combine`): every task's data lies inside them.
  public func spaces() throws(MTFQIError) -> StoreSpaces {
    if let cachedSpaces { return cachedSpaces }
    let result: StoreSpaces
    do {
      let root = try file.root()
      if try root.hasAttribute(StoreLayout.observationSpaceAttribute),
        try root.hasAttribute(StoreLayout.actionSpaceAttribute)
      {
        let context = "\(path): /"
        func origin(_ name: String) throws -> Bool {
          try root.hasAttribute(name) && root.stringAttribute(name) == "declared"
        }
        result = StoreSpaces(
          observation: try Space.parse(
            try root.stringAttribute(StoreLayout.observationSpaceAttribute), context: context + " observation_space"),
          observationDeclared: try origin(StoreLayout.observationOriginAttribute),
          action: try Space.parse(
            try root.stringAttribute(StoreLayout.actionSpaceAttribute), context: context + " action_space"),
          actionDeclared: try origin(StoreLayout.actionOriginAttribute))
      } else {
        let infos = try taskNames.map { (name) throws(MTFQIError) in try info(name) }
        guard let merged = try StoreSpaces.merging(infos, store: path) else {
          throw MTFQIError.invalidInput("\(path): the store holds no tasks, so it has no spaces")
        }
        result = merged
      }
    } catch let error as HDF5Error {
      throw MTFQIError.hdf5(error)
    } catch let error as MTFQIError {
      throw error
    } catch {
      throw MTFQIError.invalidInput("\(path): \(error)")
    }
    cachedSpaces = result
    return result
  }

  /// Every observation value of the tasks, flattened, as Double (for hints about the data).
  public func observationValues(tasks: [String]) throws(MTFQIError) -> [Double] {
    var values: [Double] = []
    for task in tasks {
      let dataset = try dataset(task: task, column: StoreLayout.observations)
      do {
        if dataset.elementType == .int64 {
          values += try dataset.read(as: Int64.self).map { Double($0) }
        } else {
          values += try dataset.read(as: Double.self)
        }
      } catch {
        throw MTFQIError.hdf5(error)
      }
    }
    return values
  }

  /// Opens one column of a task (names in `StoreLayout`).
  public func dataset(task: String, column: String) throws(MTFQIError) -> HDF5Dataset {
    let group = try taskGroup(task)
    do {
      return try group.dataset(column)
    } catch {
      throw MTFQIError.hdf5(error)
    }
  }

  /// Reads a whole column of a task as `T` (lossless conversions only).
  public func read<T: HDF5Element>(task: String, column: String, as type: T.Type = T.self) throws(MTFQIError) -> [T] {
    let dataset = try dataset(task: task, column: column)
    do {
      return try dataset.read(as: type)
    } catch {
      throw MTFQIError.hdf5(error)
    }
  }
}

extension StoreSpaces {
  /// The store spaces of tasks described by their own attributes (declared or inferred), merged
  /// in the given order; nil for no tasks.
  /// `leading` parts (a store's declared spaces) come first.
  public static func merging(
    _ infos: [TaskInfo], store: String, leadingObservation: Part? = nil, leadingAction: Part? = nil
  ) throws(MTFQIError) -> StoreSpaces? {
    var observationParts: [Part] = leadingObservation.map { [$0] } ?? []
    var actionParts: [Part] = leadingAction.map { [$0] } ?? []
    for info in infos {
      let source = "task '\(StoreLayout.shownName(info.name))'"
      observationParts.append(Part(space: info.observationSpace, declared: info.observationSpaceDeclared, source: source))
      actionParts.append(Part(space: info.actionSpace, declared: info.actionSpaceDeclared, source: source))
    }
    guard let observation = try combine(observationParts, role: "observation", store: store),
      let action = try combine(actionParts, role: "action", store: store)
    else { return nil }
    return StoreSpaces(observation: observation.0, observationDeclared: observation.1, action: action.0, actionDeclared: action.1)
  }
}
