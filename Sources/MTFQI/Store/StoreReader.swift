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
