import Foundation

/// What `mtfqi-inspect` reports about a file: its kind and, for a store, every task.
public struct FileInspection: Codable, Sendable {
  public struct Task: Codable, Sendable {
    public var name: String
    public var transitions: Int
    public var episodes: Int
    public var observationSpace: String
    public var observationSpaceOrigin: String
    public var actionSpace: String
    public var actionSpaceOrigin: String
    public var observationDtype: String
    public var actionDtype: String
    public var rewardSourceDtype: String
    public var hasBehaviorProbabilities: Bool
    public var sources: [SourceRecord]

    enum CodingKeys: String, CodingKey {
      case name, transitions, episodes, sources
      case observationSpace = "observation_space"
      case observationSpaceOrigin = "observation_space_origin"
      case actionSpace = "action_space"
      case actionSpaceOrigin = "action_space_origin"
      case observationDtype = "observation_dtype"
      case actionDtype = "action_dtype"
      case rewardSourceDtype = "reward_source_dtype"
      case hasBehaviorProbabilities = "has_behavior_probs"
    }
  }

  public var path: String
  /// "mtfqi.store", or the root `format` attribute of another mtfqi file.
  public var format: String
  public var formatVersion: Int64
  public var tasks: [Task]
  /// The store's spaces (every task's data inside them) and their origins; `spacesRecorded` is
  /// false for a store written before they were recorded (they are merged from the tasks').
  public var observationSpace: String = ""
  public var observationSpaceOrigin: String = ""
  public var actionSpace: String = ""
  public var actionSpaceOrigin: String = ""
  public var spacesRecorded = true
  /// Why an older store has no common spaces (its tasks' kinds or shapes differ); empty otherwise.
  public var spacesProblem = ""

  enum CodingKeys: String, CodingKey {
    case path, format, tasks
    case formatVersion = "format_version"
    case observationSpace = "observation_space"
    case observationSpaceOrigin = "observation_space_origin"
    case actionSpace = "action_space"
    case actionSpaceOrigin = "action_space_origin"
    case spacesRecorded = "spaces_recorded"
    case spacesProblem = "spaces_problem"
  }

  /// Reads a file's description. Files that are not mtfqi files are refused with the reason.
  public static func inspect(_ path: String) throws(MTFQIError) -> FileInspection {
    let format: String
    do {
      let file = try HDF5File.open(path)
      let root = try file.root()
      guard try root.hasAttribute("format"), try root.attributeIsString("format") else {
        throw MTFQIError.invalidInput("\(path): not an mtfqi file (no root attribute 'format')")
      }
      format = try root.stringAttribute("format")
    } catch let error as HDF5Error {
      throw MTFQIError.hdf5(error)
    } catch let error as MTFQIError {
      throw error
    } catch {
      throw MTFQIError.invalidInput("\(path): \(error)")
    }
    guard format == StoreLayout.format else {
      let flag = ["mtfqi.model": "--model", "mtfqi.representation": "--representation", "mtfqi.head": "--heads"][format]
      throw MTFQIError.invalidInput(
        "\(path): mtfqi-inspect describes stores (format '\(StoreLayout.format)'); this file is '\(format)'"
          + (flag.map { ": for its summary, mtfqi-report \($0) \(path) -o report.html (the layout is in schemas/)" } ?? ""))
    }
    let store = try StoreReader(path: path)
    var tasks: [Task] = []
    for name in store.taskNames {
      let info = try store.info(name)
      tasks.append(
        Task(
          name: name, transitions: info.transitions, episodes: info.episodes,
          observationSpace: info.observationSpace.json, observationSpaceOrigin: info.observationSpaceDeclared ? "declared" : "inferred",
          actionSpace: info.actionSpace.json, actionSpaceOrigin: info.actionSpaceDeclared ? "declared" : "inferred",
          observationDtype: info.observationType.name, actionDtype: info.actionType.name,
          rewardSourceDtype: info.rewardSourceDtype, hasBehaviorProbabilities: info.hasBehaviorProbabilities,
          sources: info.sources))
    }
    var inspection = FileInspection(path: path, format: format, formatVersion: StoreLayout.formatVersion, tasks: tasks)
    if !store.taskNames.isEmpty {
      inspection.spacesRecorded = try store.spacesRecorded()
      do {
        let spaces = try store.spaces()
        inspection.observationSpace = spaces.observation.json
        inspection.observationSpaceOrigin = spaces.observationDeclared ? "declared" : "inferred"
        inspection.actionSpace = spaces.action.json
        inspection.actionSpaceOrigin = spaces.actionDeclared ? "declared" : "inferred"
      } catch {
        // An older store whose tasks share no space still opens: say why it has none.
        guard !inspection.spacesRecorded else { throw error }
        inspection.spacesProblem = error.description
      }
    }
    return inspection
  }

  /// The readable summary.
  public var text: String {
    var lines = ["\(path): mtfqi store (format version \(formatVersion)), \(tasks.count) task(s), \(tasks.reduce(0) { $0 + $1.transitions }) transitions"]
    var rows = [["task", "transitions", "episodes", "observations", "actions", "behavior_probs"]]
    for task in tasks {
      let observation = (try? Space.parse(task.observationSpace, context: "")).map { "\($0)" } ?? task.observationSpace
      let action = (try? Space.parse(task.actionSpace, context: "")).map { "\($0)" } ?? task.actionSpace
      rows.append([
        task.name, "\(task.transitions)", "\(task.episodes)",
        observation + (task.observationSpaceOrigin == "inferred" ? " (inferred)" : "") + " \(task.observationDtype)",
        action + (task.actionSpaceOrigin == "inferred" ? " (inferred)" : "") + " \(task.actionDtype)",
        task.hasBehaviorProbabilities ? "yes" : "no",
      ])
    }
    lines.append(contentsOf: TextTable.render(rows))
    if !spacesProblem.isEmpty {
      lines.append("Store spaces: none common to the tasks (a store written before store-level spaces): \(spacesProblem)")
    }
    if !observationSpace.isEmpty {
      func show(_ json: String, _ origin: String) -> String {
        ((try? Space.parse(json, context: "")).map { "\($0)" } ?? json) + " (\(origin))"
      }
      lines.append(
        "Store spaces: observations \(show(observationSpace, observationSpaceOrigin)), actions \(show(actionSpace, actionSpaceOrigin))"
          + (spacesRecorded ? "" : "; merged from the tasks' own spaces (a store written before store-level spaces)"))
    }
    lines.append("")
    lines.append("Sources:")
    for task in tasks {
      for source in task.sources {
        var line = "  \(task.name) <- \(source.path) [\(source.format)] \(source.rowsStored) stored of \(source.rowsRead) read"
        if source.rowsRejected > 0 { line += ", \(source.rowsRejected) rejected" }
        if source.episodeIdOffset != 0 { line += ", episode ids +\(source.episodeIdOffset)" }
        if source.timeoutRowsDropped > 0 { line += ", \(source.timeoutRowsDropped) timed-out last rows dropped" }
        if source.terminalRowsWithoutNextObservation > 0 {
          line += ", \(source.terminalRowsWithoutNextObservation) terminal rows without next obs"
        }
        line += ", sha256 \(source.sha256.prefix(12))…"
        lines.append(line)
      }
    }
    return lines.joined(separator: "\n")
  }
}
