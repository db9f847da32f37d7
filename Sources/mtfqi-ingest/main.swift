import ArgumentParser
import Foundation
import MTFQI
import MTFQICommandLine

@main
struct Ingest: StageCommand {
  static let configuration = CommandConfiguration(
    commandName: "mtfqi-ingest",
    abstract: "Read logged transitions (CSV, JSON Lines, gzip, Minari folders, D4RL HDF5) into one HDF5 store.",
    discussion: """
      Each input goes to a task: the task column/field of the records (a string or an integer: \
      "task": 7 and a CSV 7 are task 7), else --task NAME (Minari: the dataset id; D4RL: the file \
      name). --task NAME also renames the single task of a file whose records carry one; \
      --task-map OLD=NEW (repeatable) renames several. All tasks of a store share one observation \
      space and one action space: declared ones are checked, inferred ones widen as tasks arrive. \
      The store is written to a temporary file and renamed into place: a failed run leaves no \
      partial file and never touches an existing store. The layout is in schemas/store.md.

      Formats are told by name: .csv, .jsonl/.ndjson (each optionally .gz; gzip is detected by \
      content), .h5/.hdf5 (D4RL-style), a folder (Minari dataset). CSV columns: episode, step, obs \
      (a Discrete index) or obs_0..obs_{d-1}, action or act_0..act_{m-1}, reward, next_obs or \
      next_obs_0.., terminated, truncated; optional task, behavior_prob (schemas/csv-columns.md).

      Examples:
        mtfqi-ingest logs/reach.csv logs/push.csv.gz -o build/store.h5
        mtfqi-ingest new-task.jsonl --task new -o build/store.h5 --append
        mtfqi-ingest runs.csv --task-map 0=reach --task-map 1=push -o build/store.h5
        mtfqi-ingest minari/cartpole-v0 -o build/cartpole.h5 --json
        mtfqi-ingest logs/*.csv --observation-space discrete:50 --action-space discrete:4 -o store.h5
      """,
    version: MTFQIVersion.string)

  @Argument(help: "Input files or Minari dataset folders.")
  var inputs: [String] = []

  @Option(name: .shortAndLong, help: "The store to write (HDF5).")
  var output: String

  @Option(help: "Task name for every input of this call; renames the single task of a file whose records carry one.")
  var task: String?

  @Option(name: .customLong("task-map"), help: "OLD=NEW: store the sources' task OLD as NEW (repeatable).")
  var taskMap: [String] = []

  @Flag(help: "Add the tasks to an existing store (a new file with all tasks is written and renamed over it).")
  var append = false

  @Flag(help: "With --append: replace tasks that already exist in the store.")
  var replace = false

  @Option(help: "Declare the observation space: Minari-style JSON or discrete:N, box:D, box:D:float32.")
  var observationSpace: String?

  @Option(help: "Declare the action space: Minari-style JSON or discrete:N, box:M.")
  var actionSpace: String?

  @Flag(help: "Store text-source observations and Box actions as float32 (default float64).")
  var float32 = false

  @Option(help: "Force the input format: csv, jsonl, minari or d4rl (default: from the name).")
  var format: String?

  @Option(help: "Deflate level 1-9 for the store's datasets (with shuffle; plain h5py reads it). Default: none.")
  var compress: Int?

  @Flag(help: "Skip bad rows instead of stopping, and write every rejection to a report.")
  var skipInvalid = false

  @Option(help: "Where --skip-invalid writes its report (JSON Lines). Default: OUTPUT.rejects.jsonl.")
  var rejectReport: String?

  @Flag(help: "Fail at once when another process is writing the output (default: wait for it).")
  var noWait = false

  @OptionGroup var reporting: OutputOptions

  func validate() throws {
    guard !inputs.isEmpty else { throw ValidationError("give at least one input file or folder") }
    if replace && !append { throw ValidationError("--replace only makes sense with --append") }
    if let compress, !(1...9).contains(compress) {
      throw ValidationError("--compress takes a deflate level from 1 to 9, found \(compress)")
    }
    if let format, InputFormat(rawValue: format) == nil {
      throw ValidationError("--format must be one of csv, jsonl, minari, d4rl; found '\(format)'")
    }
    if rejectReport != nil && !skipInvalid { throw ValidationError("--reject-report only makes sense with --skip-invalid") }
    var outputs = [output]
    if skipInvalid { outputs.append(rejectReport ?? output + ".rejects.jsonl") }
    do {
      try OutputGuard.declare(inputs: inputs, outputs: outputs)
    } catch {
      throw ValidationError(error.description)
    }
    _ = try parsedTaskMap()
  }

  /// --task-map OLD=NEW pairs; an OLD given twice with different NEWs is an error.
  func parsedTaskMap() throws -> [String: String] {
    var map: [String: String] = [:]
    for entry in taskMap {
      guard let equals = entry.firstIndex(of: "="), equals != entry.startIndex,
        entry.index(after: equals) != entry.endIndex
      else { throw ValidationError("--task-map expects OLD=NEW, found '\(entry)'") }
      let old = String(entry[..<equals])
      let new = String(entry[entry.index(after: equals)...])
      if let earlier = map[old], earlier != new {
        throw ValidationError("--task-map maps '\(old)' twice: to '\(earlier)' and to '\(new)'")
      }
      map[old] = new
    }
    return map
  }

  func run() throws {
    OutputLock.waitForOtherWriters = !noWait
    var options = IngestOptions()
    options.inputs = inputs
    options.output = output
    options.task = task
    options.taskMap = try parsedTaskMap()
    options.append = append
    options.replace = replace
    options.float32 = float32
    options.skipInvalid = skipInvalid
    options.rejectReport = rejectReport
    options.format = format.flatMap(InputFormat.init(rawValue:))
    options.compression = compress.map { .deflate(level: $0) } ?? .none
    options.showProgress = reporting.showProgress
    do {
      if let observationSpace {
        options.observationSpace = try Space.parse(observationSpace, context: "--observation-space")
      }
      if let actionSpace { options.actionSpace = try Space.parse(actionSpace, context: "--action-space") }
    } catch {
      throw ValidationError(error.description)
    }
    let summary: IngestSummary
    do {
      summary = try Ingester.run(options)
    } catch {
      throw RuntimeFailure(error.description)
    }
    try reporting.printSummary(summary, text: IngestReport.table(summary))
  }
}
