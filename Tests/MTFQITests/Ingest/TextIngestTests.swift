import Foundation
import Testing

@testable import MTFQI

/// One logged transition as text, exactly as it is written to a CSV or JSON Lines file; the
/// store must hold `Double(text)` for every number (correct rounding on both sides).
struct TextTransition {
  var task: String?
  var episode: Int64
  var step: Int64
  var obs: [String]
  var action: [String]
  var reward: String
  /// Empty strings: the next observation is missing (allowed on terminated rows).
  var next: [String]
  var terminated = false
  var truncated = false
  var behavior: String?

  var nextMissing: Bool { next.allSatisfy(\.isEmpty) }
}

/// Writes transition logs as CSV or JSON Lines, and checks a store against them.
enum TextLogs {
  /// How obs/action are written: a Discrete column (`obs`, `action`) or Box columns.
  struct Layout {
    var discreteObservation = false
    var discreteAction = false
    var taskColumn = true
    var behavior = false
    /// CSV only: the header order (any order is allowed).
    var shuffledColumns = false
    /// CSV only: quote the task field.
    var quoteTask = false
    var lineEnding = "\n"
    var finalNewline = true
  }

  static func csv(_ rows: [TextTransition], _ layout: Layout = Layout()) -> String {
    guard let first = rows.first else { return "" }
    var columns: [(name: String, value: (TextTransition) -> String)] = []
    if layout.taskColumn {
      columns.append(("task", { row in layout.quoteTask ? "\"\(row.task ?? "")\"" : row.task ?? "" }))
    }
    columns.append(("episode", { "\($0.episode)" }))
    columns.append(("step", { "\($0.step)" }))
    if layout.discreteObservation {
      columns.append(("obs", { $0.obs[0] }))
    } else {
      for k in first.obs.indices { columns.append(("obs_\(k)", { $0.obs[k] })) }
    }
    if layout.discreteAction {
      columns.append(("action", { $0.action[0] }))
    } else {
      for k in first.action.indices { columns.append(("act_\(k)", { $0.action[k] })) }
    }
    columns.append(("reward", { $0.reward }))
    if layout.discreteObservation {
      columns.append(("next_obs", { $0.next[0] }))
    } else {
      for k in first.next.indices { columns.append(("next_obs_\(k)", { $0.next[k] })) }
    }
    columns.append(("terminated", { $0.terminated ? "1" : "0" }))
    columns.append(("truncated", { $0.truncated ? "true" : "false" }))
    if layout.behavior { columns.append(("behavior_prob", { $0.behavior ?? "" })) }
    if layout.shuffledColumns { columns.reverse() }
    var lines = [columns.map(\.name).joined(separator: ",")]
    for row in rows { lines.append(columns.map { $0.value(row) }.joined(separator: ",")) }
    return lines.joined(separator: layout.lineEnding) + (layout.finalNewline ? layout.lineEnding : "")
  }

  static func jsonl(_ rows: [TextTransition], _ layout: Layout = Layout()) -> String {
    var lines: [String] = []
    for row in rows {
      var fields: [String] = []
      if layout.taskColumn, let task = row.task { fields.append(#""task": "\#(task)""#) }
      fields.append(#""episode": \#(row.episode)"#)
      fields.append(#""step": \#(row.step)"#)
      fields.append(
        #""obs": "# + (layout.discreteObservation ? row.obs[0] : "[" + row.obs.joined(separator: ", ") + "]"))
      fields.append(
        #""action": "# + (layout.discreteAction ? row.action[0] : "[" + row.action.joined(separator: ",") + "]"))
      fields.append(#""reward": \#(row.reward)"#)
      let next =
        row.nextMissing
        ? "null" : (layout.discreteObservation ? row.next[0] : "[" + row.next.joined(separator: ", ") + "]")
      fields.append(#""next_obs": "# + next)
      fields.append(#""terminated": \#(row.terminated)"#)
      fields.append(#""truncated": \#(row.truncated ? "1" : "0")"#)
      if layout.behavior, let behavior = row.behavior { fields.append(#""behavior_prob": \#(behavior)"#) }
      if layout.shuffledColumns { fields.reverse() }
      lines.append("{" + fields.joined(separator: ", ") + "}")
    }
    return lines.joined(separator: layout.lineEnding) + (layout.finalNewline ? layout.lineEnding : "")
  }

  static func write(_ text: String, to path: String) throws {
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
  }

  /// gzip with the system tool (independent of mtfqi's zlib reader).
  static func gzip(_ path: String) throws -> String {
    let run = try Executables.runTool(["gzip", "-k", "-n", "-f", path])
    #expect(run.status == 0, "\(run)")
    return path + ".gz"
  }

  static func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

  /// The values the store must hold for a column of texts.
  static func numbers(_ texts: [String]) -> [Double] { texts.map { $0.isEmpty ? .nan : Double($0)! } }

  /// Bitwise equality (so -0.0 is not 0.0), with NaN equal to NaN.
  static func same(_ a: [Double], _ b: [Double]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
  }

  static func same(_ a: [Float], _ b: [Float]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
  }

  /// Checks every column of `task` against `rows` exactly (values and dtypes).
  static func expectStore(
    _ store: String, task: String, rows: [TextTransition], layout: Layout = Layout(), float32: Bool = false,
    episodes: [Int64]? = nil, sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    let reader = try StoreReader(path: store)
    let floatType: HDF5ElementType = float32 ? .float32 : .float64
    func column(_ name: String) throws -> HDF5Dataset { try reader.dataset(task: task, column: name) }
    let n = rows.count
    let width = rows.first?.obs.count ?? 0
    let actionWidth = rows.first?.action.count ?? 0

    let observations = try column(StoreLayout.observations)
    let next = try column(StoreLayout.nextObservations)
    let actions = try column(StoreLayout.actions)
    if layout.discreteObservation {
      #expect(observations.elementType == .int64, sourceLocation: sourceLocation)
      #expect(observations.shape == [n], sourceLocation: sourceLocation)
      #expect(try observations.read(as: Int64.self) == rows.map { Int64($0.obs[0])! }, sourceLocation: sourceLocation)
      #expect(try next.read(as: Int64.self) == rows.map { Int64($0.next[0])! }, sourceLocation: sourceLocation)
    } else {
      #expect(observations.elementType == floatType, sourceLocation: sourceLocation)
      #expect(next.elementType == floatType, sourceLocation: sourceLocation)
      #expect(observations.shape == [n, width], sourceLocation: sourceLocation)
      #expect(next.shape == [n, width], sourceLocation: sourceLocation)
      let expectedObservations = numbers(rows.flatMap(\.obs))
      let expectedNext = numbers(rows.flatMap(\.next))
      if float32 {
        #expect(
          same(try observations.read(as: Float.self), expectedObservations.map(Float.init)),
          sourceLocation: sourceLocation)
        #expect(same(try next.read(as: Float.self), expectedNext.map(Float.init)), sourceLocation: sourceLocation)
      } else {
        let stored = try observations.read(as: Double.self)
        #expect(
          same(stored, expectedObservations), "\(stored) vs \(expectedObservations)", sourceLocation: sourceLocation)
        #expect(same(try next.read(as: Double.self), expectedNext), sourceLocation: sourceLocation)
      }
    }
    if layout.discreteAction {
      #expect(actions.elementType == .int64, sourceLocation: sourceLocation)
      #expect(actions.shape == [n], sourceLocation: sourceLocation)
      #expect(try actions.read(as: Int64.self) == rows.map { Int64($0.action[0])! }, sourceLocation: sourceLocation)
    } else {
      #expect(actions.elementType == floatType, sourceLocation: sourceLocation)
      #expect(actions.shape == [n, actionWidth], sourceLocation: sourceLocation)
      let expected = numbers(rows.flatMap(\.action))
      if float32 {
        #expect(same(try actions.read(as: Float.self), expected.map(Float.init)), sourceLocation: sourceLocation)
      } else {
        #expect(same(try actions.read(as: Double.self), expected), sourceLocation: sourceLocation)
      }
    }
    let rewards = try column(StoreLayout.rewards)
    #expect(rewards.elementType == .float64, sourceLocation: sourceLocation)
    #expect(same(try rewards.read(as: Double.self), numbers(rows.map(\.reward))), sourceLocation: sourceLocation)
    let terminations = try column(StoreLayout.terminations)
    let truncations = try column(StoreLayout.truncations)
    #expect(terminations.elementType == .uint8 && truncations.elementType == .uint8, sourceLocation: sourceLocation)
    #expect(try terminations.read(as: UInt8.self) == rows.map { $0.terminated ? 1 : 0 }, sourceLocation: sourceLocation)
    #expect(try truncations.read(as: UInt8.self) == rows.map { $0.truncated ? 1 : 0 }, sourceLocation: sourceLocation)
    let episode = try column(StoreLayout.episode)
    let step = try column(StoreLayout.step)
    #expect(episode.elementType == .int64 && step.elementType == .int64, sourceLocation: sourceLocation)
    #expect(try episode.read(as: Int64.self) == (episodes ?? rows.map(\.episode)), sourceLocation: sourceLocation)
    #expect(try step.read(as: Int64.self) == rows.map(\.step), sourceLocation: sourceLocation)
    let info = try reader.info(task)
    #expect(info.transitions == n, sourceLocation: sourceLocation)
    #expect(info.episodes == Set(episodes ?? rows.map(\.episode)).count, sourceLocation: sourceLocation)
    #expect(info.rewardSourceDtype == "text", sourceLocation: sourceLocation)
    if layout.behavior {
      let behavior = try column(StoreLayout.behaviorProbabilities)
      #expect(behavior.elementType == .float64, sourceLocation: sourceLocation)
      #expect(
        same(try behavior.read(as: Double.self), numbers(rows.map { $0.behavior ?? "" })),
        sourceLocation: sourceLocation)
      #expect(info.hasBehaviorProbabilities, sourceLocation: sourceLocation)
    } else {
      #expect(!info.hasBehaviorProbabilities, sourceLocation: sourceLocation)
    }
  }

  static func ingest(_ options: IngestOptions) throws -> IngestSummary {
    do {
      return try Ingester.run(options)
    } catch {
      Issue.record("ingest failed: \(error)")
      throw error
    }
  }

  /// Every dataset (as raw bytes with its type and shape) and attribute of a task, to compare a
  /// task before and after another run.
  static func snapshot(_ store: String, task: String) throws -> [String: String] {
    let file = try HDF5File.open(store)
    let group = try file.group("/tasks/\(task)")
    var result: [String: String] = [:]
    for name in try group.memberNames() {
      let dataset = try group.dataset(name)
      let data: Data
      switch dataset.elementType {
      case .float64?: data = try dataset.read(as: Double.self).withUnsafeBytes { Data($0) }
      case .float32?: data = try dataset.read(as: Float.self).withUnsafeBytes { Data($0) }
      case .int64?: data = try dataset.read(as: Int64.self).withUnsafeBytes { Data($0) }
      case .uint8?: data = try dataset.read(as: UInt8.self).withUnsafeBytes { Data($0) }
      default:
        Issue.record("unexpected type in \(dataset.path)")
        data = Data()
      }
      result["dataset \(name)"] = "\(dataset.elementType?.name ?? "?") \(dataset.shape) \(data.base64EncodedString())"
    }
    for name in try group.attributeNames() {
      result["attribute \(name)"] =
        try group.attributeIsString(name)
        ? group.stringAttribute(name) : "\(try group.numericAttribute(name, as: Int64.self))"
    }
    return result
  }

  /// A short Box log of one task: three episodes, with terminated and truncated ends.
  static func boxRows(task: String?, episodes: [Int64] = [0, 1, 2], scale: Double = 1) -> [TextTransition] {
    var rows: [TextTransition] = []
    for (e, episode) in episodes.enumerated() {
      let length = 2 + e % 2
      for step in 0..<length {
        func obs(_ s: Int) -> [String] { ["\(Double(e * 10 + s) * scale)", "\(-0.5 * Double(s))"] }
        rows.append(
          TextTransition(
            task: task, episode: episode, step: Int64(step), obs: obs(step), action: ["\(0.25 * Double(step))"],
            reward: "\(Double(step) - 0.5)", next: obs(step + 1), terminated: e == 0 && step == length - 1,
            truncated: e == 1 && step == length - 1))
      }
    }
    return rows
  }
}

/// CSV and JSON Lines ingest, in-process through `Ingester.run`, checked by reading the store back.
@Suite("Ingest: CSV and JSON Lines")
struct TextIngestTests {
  /// Box observations and actions, behavior_prob, several tasks in one file (interleaved, one of
  /// them quoted), values that stress exact parsing.
  static let multiTask: [TextTransition] = [
    TextTransition(
      task: "reach", episode: 0, step: 0, obs: ["0.1", "1e-300", "-0.0"], action: ["123456789.123456789", "-2.5E+3"],
      reward: "0.1", next: ["0.2", "4.9e-324", "1.7976931348623157e308"], behavior: "0.25"),
    TextTransition(
      task: "push-v2", episode: 0, step: 0, obs: ["1", "2", "3"], action: ["0", "1"], reward: "-0.0",
      next: ["4", "5", "6"], behavior: "1"),
    TextTransition(
      task: "reach", episode: 0, step: 1, obs: ["0.2", "4.9e-324", "1.7976931348623157e308"], action: ["7", "8"],
      reward: "1e-300", next: ["0.30000000000000004", "-1", "2"], terminated: true, behavior: "0"),
    TextTransition(
      task: "pick.place", episode: 7, step: 0, obs: ["-3.25", "0", "1e22"], action: ["0.5", "0.5"], reward: "3",
      next: ["9", "9", "9"], truncated: true, behavior: "0.5"),
    TextTransition(
      task: "push-v2", episode: 0, step: 1, obs: ["4", "5", "6"], action: ["1", "0"], reward: "2.5e-1",
      next: ["7", "8", "9"], behavior: "0.75"),
    TextTransition(
      task: "reach", episode: 1, step: 0, obs: ["5", "6", "7"], action: ["-1", "-1"], reward: "123456789.123456789",
      next: ["8", "9", "10"], truncated: true, behavior: "0.125"),
  ]

  static func rows(of task: String, in rows: [TextTransition] = multiTask) -> [TextTransition] {
    rows.filter { $0.task == task }
  }

  @Test("CSV: Box columns, behavior_prob, several tasks (one quoted), read back exactly with provenance")
  func csvMultiTask() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-text")
    let input = directory.file("logs.csv")
    let layout = TextLogs.Layout(behavior: true, shuffledColumns: true, quoteTask: true)
    try TextLogs.write(TextLogs.csv(Self.multiTask, layout), to: input)
    let store = directory.file("store.h5")
    let summary = try TextLogs.ingest(Fixtures.options([input], output: store))
    #expect(summary.rowsRead == 6)
    #expect(summary.rowsStored == 6)
    #expect(summary.rowsRejected == 0)
    #expect(summary.nextObservationMismatches == 0)
    #expect(summary.tasks.map(\.name).sorted() == ["pick.place", "push-v2", "reach"])
    let reader = try StoreReader(path: store)
    #expect(reader.taskNames == ["pick.place", "push-v2", "reach"])
    let digest = try Executables.sha256sum(input)
    #expect(digest.count == 64)
    for task in reader.taskNames {
      let rows = Self.rows(of: task)
      try TextLogs.expectStore(store, task: task, rows: rows, layout: layout)
      let info = try reader.info(task)
      #expect(info.sources.count == 1)
      let source = try #require(info.sources.first)
      #expect(source.path == input)
      #expect(source.format == "csv")
      #expect(source.sha256 == digest)
      #expect(source.rowsRead == rows.count)
      #expect(source.rowsStored == rows.count)
      #expect(source.rowsRejected == 0)
      #expect(source.episodeIdOffset == 0)
      #expect(source.rewardSourceDtype == "text")
      #expect(!info.observationSpaceDeclared && !info.actionSpaceDeclared)
    }
    // Inferred Box spaces span the observed values of the task's observations and next observations.
    let reach = try reader.info("reach")
    guard case .box(let shape, let dtype, let low?, let high?) = reach.observationSpace else {
      Issue.record("expected an inferred Box with bounds, found \(reach.observationSpace)")
      return
    }
    #expect(shape == [3])
    #expect(dtype == .float64)
    #expect(low[0] == 0.1 && high[0] == 8)
    #expect(low[1] == -1 && high[1] == 9)
    #expect(low[2] == 0 && high[2] == 1.7976931348623157e308)
    #expect(try reader.info("push-v2").actionSpace == .box(shape: [2], dtype: .float64, low: [0, 0], high: [1, 1]))
  }

  @Test("JSON Lines: the same transitions give the same store arrays")
  func jsonlMultiTask() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-text")
    let input = directory.file("logs.jsonl")
    let layout = TextLogs.Layout(behavior: true, shuffledColumns: true)
    try TextLogs.write(TextLogs.jsonl(Self.multiTask, layout), to: input)
    let store = directory.file("store.h5")
    let summary = try TextLogs.ingest(Fixtures.options([input], output: store))
    #expect(summary.rowsStored == 6)
    let reader = try StoreReader(path: store)
    #expect(reader.taskNames == ["pick.place", "push-v2", "reach"])
    let digest = try Executables.sha256sum(input)
    for task in reader.taskNames {
      try TextLogs.expectStore(store, task: task, rows: Self.rows(of: task), layout: layout)
      let source = try #require(try reader.info(task).sources.first)
      #expect(source.format == "jsonl")
      #expect(source.sha256 == digest)
      #expect(source.rowsRead == Self.rows(of: task).count)
    }
  }

  @Test("--task for files without a task column; --task renames the single task of a file that carries one")
  func taskFlag() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-text")
    let rows = TextLogs.boxRows(task: nil)
    let csv = directory.file("a.csv")
    let jsonl = directory.file("b.jsonl")
    let layout = TextLogs.Layout(taskColumn: false)
    try TextLogs.write(TextLogs.csv(rows, layout), to: csv)
    try TextLogs.write(TextLogs.jsonl(rows, layout), to: jsonl)
    let store = directory.file("store.h5")
    _ = try TextLogs.ingest(Fixtures.options([csv], output: store, task: "walk"))
    try TextLogs.expectStore(store, task: "walk", rows: rows, layout: layout)
    _ = try TextLogs.ingest(Fixtures.options([jsonl], output: store, task: "run"))
    try TextLogs.expectStore(store, task: "run", rows: rows, layout: layout)
    #expect(try StoreReader(path: store).taskNames == ["run"])

    // Without a task column and without --task, a file feeds the task named after it (one log
    // per task in a folder): a.csv -> a, b.jsonl -> b, odd characters -> '_', .gz stripped too.
    let named = directory.file("named.h5")
    let plain = directory.file("reach goal#2.jsonl")
    try TextLogs.write(TextLogs.jsonl(rows, layout), to: plain)
    let gzipped = try TextLogs.gzip(plain)
    _ = try TextLogs.ingest(Fixtures.options([csv, jsonl, gzipped], output: named))
    #expect(try StoreReader(path: named).taskNames == ["a", "b", "reach_goal_2"])
    try TextLogs.expectStore(named, task: "b", rows: rows, layout: layout)
    #expect(TextRowRouter.taskName(fromFile: "/x/.hidden.csv") == "hidden")
    #expect(TextRowRouter.taskName(fromFile: "/x/.csv") == "task")
    let tagged = directory.file("tagged.csv")
    try TextLogs.write(TextLogs.csv(TextLogs.boxRows(task: "walk")), to: tagged)
    // The records say 'walk': --task run stores them as task 'run'.
    _ = try TextLogs.ingest(Fixtures.options([tagged], output: directory.file("renamed.h5"), task: "run"))
    #expect(try StoreReader(path: directory.file("renamed.h5")).taskNames == ["run"])
    #expect(try StoreReader(path: directory.file("renamed.h5")).info("run").transitions == TextLogs.boxRows(task: "walk").count)
    // Agreeing is fine.
    _ = try TextLogs.ingest(Fixtures.options([tagged], output: directory.file("y.h5"), task: "walk"))
    // A file with two tasks cannot be renamed to one.
    let two = directory.file("two.csv")
    try TextLogs.write(TextLogs.csv(TextLogs.boxRows(task: "walk") + TextLogs.boxRows(task: "jog", episodes: [5])), to: two)
    let refused = Fixtures.failure(Fixtures.options([two], output: directory.file("x.h5"), task: "run"))
    #expect(refused.hasPrefix("\(two):\(TextLogs.boxRows(task: "walk").count + 2): field 'task': --task run renames the single task of a file, but this file has tasks 'walk' and 'jog'"), "\(refused)")
    #expect(!FileManager.default.fileExists(atPath: directory.file("x.h5")))
  }

  // MARK: Discrete, dtypes, spaces

  static let discreteRows: [TextTransition] = [
    TextTransition(episode: 0, step: 0, obs: ["3"], action: ["1"], reward: "1", next: ["4"]),
    TextTransition(episode: 0, step: 1, obs: ["4"], action: ["0"], reward: "-1", next: ["2"]),
    TextTransition(episode: 0, step: 2, obs: ["2"], action: ["2"], reward: "0.5", next: ["9"], terminated: true),
    TextTransition(episode: 1, step: 0, obs: ["0"], action: ["1"], reward: "0", next: ["1"]),
    TextTransition(episode: 1, step: 1, obs: ["1"], action: ["0"], reward: "0", next: ["5"], truncated: true),
  ]

  @Test(
    "Discrete obs and action: int64 columns; spaces inferred (n = max + 1) or declared", arguments: ["csv", "jsonl"])
  func discreteColumns(format: String) throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-text")
    let layout = TextLogs.Layout(discreteObservation: true, discreteAction: true, taskColumn: false)
    let input = directory.file("log.\(format)")
    try TextLogs.write(
      format == "csv" ? TextLogs.csv(Self.discreteRows, layout) : TextLogs.jsonl(Self.discreteRows, layout), to: input)
    let inferred = directory.file("inferred.h5")
    let summary = try TextLogs.ingest(Fixtures.options([input], output: inferred, task: "grid"))
    try TextLogs.expectStore(inferred, task: "grid", rows: Self.discreteRows, layout: layout)
    let info = try StoreReader(path: inferred).info("grid")
    // The highest observation is the terminal next_obs 9: the inferred space must hold it.
    #expect(info.observationSpace == .discrete(n: 10, start: 0), "inferred \(info.observationSpace)")
    #expect(info.actionSpace == .discrete(n: 3, start: 0))
    #expect(!info.observationSpaceDeclared && !info.actionSpaceDeclared)
    #expect(info.observationType == .int64 && info.actionType == .int64)
    #expect(summary.tasks.first?.observationSpaceOrigin == "inferred")
    #expect(
      try HDF5File.open(inferred).group("/tasks/grid").stringAttribute("observation_space")
        == #"{"type": "Discrete", "dtype": "int64", "start": 0, "n": 10}"#)

    let declared = directory.file("declared.h5")
    var options = Fixtures.options([input], output: declared, task: "grid")
    options.observationSpace = try Space.parse("discrete:50", context: "--observation-space")
    options.actionSpace = try Space.parse(#"{"type": "Discrete", "n": 4}"#, context: "--action-space")
    _ = try TextLogs.ingest(options)
    try TextLogs.expectStore(declared, task: "grid", rows: Self.discreteRows, layout: layout)
    let declaredInfo = try StoreReader(path: declared).info("grid")
    #expect(declaredInfo.observationSpace == .discrete(n: 50, start: 0))
    #expect(declaredInfo.actionSpace == .discrete(n: 4, start: 0))
    #expect(declaredInfo.observationSpaceDeclared && declaredInfo.actionSpaceDeclared)
    #expect(try HDF5File.open(declared).group("/tasks/grid").stringAttribute("action_space_origin") == "declared")
  }

  @Test("an inferred Discrete space starts at the lowest value when it is negative")
  func inferredDiscreteNegative() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-text")
    var rows = Self.discreteRows
    rows[1].action = ["-2"]
    let input = directory.file("log.csv")
    try TextLogs.write(
      TextLogs.csv(rows, TextLogs.Layout(discreteObservation: true, discreteAction: true, taskColumn: false)), to: input
    )
    let store = directory.file("store.h5")
    _ = try TextLogs.ingest(Fixtures.options([input], output: store, task: "grid"))
    #expect(try StoreReader(path: store).info("grid").actionSpace == .discrete(n: 5, start: -2))
  }

  @Test("float32 = true stores observations and Box actions as float32; rewards stay float64")
  func float32Storage() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-text")
    let input = directory.file("logs.csv")
    let layout = TextLogs.Layout(behavior: true)
    try TextLogs.write(TextLogs.csv(Self.multiTask, layout), to: input)
    let store = directory.file("store.h5")
    var options = Fixtures.options([input], output: store)
    options.float32 = true
    _ = try TextLogs.ingest(options)
    for task in ["reach", "push-v2", "pick.place"] {
      try TextLogs.expectStore(store, task: task, rows: Self.rows(of: task), layout: layout, float32: true)
    }
    // 0.1 as float32 is the float32 nearest to 0.1; 1e-300 underflows to zero; the largest
    // double overflows to infinity: exactly what rounding the parsed double gives.
    let observations = try StoreReader(path: store).read(
      task: "reach", column: StoreLayout.observations, as: Float.self)
    #expect(observations[0] == Float(0.1))
    #expect(observations[1] == 0)
    #expect(observations[5] == .infinity)
    #expect(try StoreReader(path: store).info("reach").observationType == .float32)
    // Discrete columns stay int64 with float32.
    let discrete = directory.file("grid.csv")
    try TextLogs.write(
      TextLogs.csv(
        Self.discreteRows, TextLogs.Layout(discreteObservation: true, discreteAction: true, taskColumn: false)),
      to: discrete)
    var discreteOptions = Fixtures.options([discrete], output: directory.file("grid.h5"), task: "grid")
    discreteOptions.float32 = true
    _ = try TextLogs.ingest(discreteOptions)
    try TextLogs.expectStore(
      directory.file("grid.h5"), task: "grid", rows: Self.discreteRows,
      layout: TextLogs.Layout(discreteObservation: true, discreteAction: true, taskColumn: false))
  }

  @Test("declared Box spaces: widths are checked; a one-column action declared discrete:N becomes int64")
  func declaredBoxSpaces() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-text")
    let rows = TextLogs.boxRows(task: "walk")
    let input = directory.file("walk.csv")
    try TextLogs.write(TextLogs.csv(rows), to: input)
    let store = directory.file("store.h5")
    var options = Fixtures.options([input], output: store)
    options.observationSpace = try Space.parse("box:2", context: "--observation-space")
    options.actionSpace = try Space.parse("discrete:3", context: "--action-space")
    // act_0 holds 0, 0.25, 0.5: not integers, so a Discrete action space is refused per row.
    let refused = Fixtures.failure(options)
    #expect(refused == "\(input):2: field 'action': expected an integer, found '0.0'")
    options.actionSpace = try Space.parse("box:1", context: "--action-space")
    _ = try TextLogs.ingest(options)
    try TextLogs.expectStore(store, task: "walk", rows: rows)
    let info = try StoreReader(path: store).info("walk")
    #expect(
      info.observationSpace
        == .box(shape: [2], dtype: .float64, low: [-.infinity, -.infinity], high: [.infinity, .infinity]))
    #expect(info.observationSpaceDeclared)
    options.observationSpace = try Space.parse("box:3", context: "--observation-space")
    let width = Fixtures.failure(options)
    #expect(
      width.hasPrefix("\(input): the observation has 2 values per row but the declared observation space"), "\(width)")
    #expect(width.hasSuffix("has 3"))
  }

  // MARK: gzip, line endings

  @Test(
    "gzip (plain and multi-member), CRLF line endings and a last line without newline read the same",
    arguments: ["csv", "jsonl"])
  func gzipAndLineEndings(format: String) throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-text")
    let rows = TextLogs.boxRows(task: "walk", episodes: [0, 1, 2, 3, 4])
    func text(_ rows: [TextTransition], _ layout: TextLogs.Layout) -> String {
      format == "csv" ? TextLogs.csv(rows, layout) : TextLogs.jsonl(rows, layout)
    }
    var inputs: [(name: String, path: String, format: String)] = []
    let plain = directory.file("plain.\(format)")
    try TextLogs.write(text(rows, TextLogs.Layout()), to: plain)
    inputs.append(("plain", plain, format))
    let crlf = directory.file("crlf.\(format)")
    try TextLogs.write(text(rows, TextLogs.Layout(lineEnding: "\r\n", finalNewline: false)), to: crlf)
    inputs.append(("crlf", crlf, format))
    let unterminated = directory.file("unterminated.\(format)")
    try TextLogs.write(text(rows, TextLogs.Layout(finalNewline: false)), to: unterminated)
    inputs.append(("no final newline", unterminated, format))
    let gzipped = try TextLogs.gzip(plain)
    inputs.append(("gzip", gzipped, format + "+gzip"))
    // Two gzip members: the first half of the lines, then the rest (what `cat a.gz b.gz` makes).
    let all = text(rows, TextLogs.Layout())
    let lines = all.split(separator: "\n", omittingEmptySubsequences: false)
    let half = lines.count / 2
    let part1 = directory.file("part1.\(format)")
    let part2 = directory.file("part2.\(format)")
    try TextLogs.write(lines[..<half].joined(separator: "\n") + "\n", to: part1)
    try TextLogs.write(lines[half...].joined(separator: "\n"), to: part2)
    let multi = directory.file("multi.\(format).gz")
    var joined = try TextLogs.bytes(TextLogs.gzip(part1))
    joined.append(try TextLogs.bytes(TextLogs.gzip(part2)))
    try joined.write(to: URL(fileURLWithPath: multi))
    inputs.append(("multi-member gzip", multi, format + "+gzip"))

    for input in inputs {
      let store = directory.file("\(input.name).h5")
      let summary = try TextLogs.ingest(Fixtures.options([input.path], output: store))
      #expect(summary.rowsStored == rows.count, "\(input.name)")
      try TextLogs.expectStore(store, task: "walk", rows: rows)
      let source = try #require(try StoreReader(path: store).info("walk").sources.first)
      #expect(source.format == input.format, "\(input.name)")
      #expect(source.sha256 == (try Executables.sha256sum(input.path)), "\(input.name): sha256 of the file as stored")
      #expect(source.rowsRead == rows.count, "\(input.name)")
    }
  }

  // MARK: Episodes, append, replace

  @Test("episode ids that collide across files of one task are renumbered, with the offset recorded")
  func episodeRenumbering() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-text")
    let first = TextLogs.boxRows(task: "walk", episodes: [0, 1, 2])
    let second = TextLogs.boxRows(task: "walk", episodes: [1, 2, 3], scale: 2)
    let third = TextLogs.boxRows(task: "walk", episodes: [100, 101], scale: 3)
    let paths = [directory.file("a.csv"), directory.file("b.csv"), directory.file("c.jsonl")]
    try TextLogs.write(TextLogs.csv(first), to: paths[0])
    try TextLogs.write(TextLogs.csv(second), to: paths[1])
    try TextLogs.write(TextLogs.jsonl(third), to: paths[2])
    let store = directory.file("store.h5")
    _ = try TextLogs.ingest(Fixtures.options(paths, output: store))
    // b.csv collides (1, 2): offset = max so far (2) + 1 - its min (1) = 2, so 1,2,3 -> 3,4,5.
    // c.jsonl (100, 101) does not collide with 0...5: kept as is.
    let expectedEpisodes = first.map(\.episode) + second.map { $0.episode + 2 } + third.map(\.episode)
    try TextLogs.expectStore(store, task: "walk", rows: first + second + third, episodes: expectedEpisodes)
    let info = try StoreReader(path: store).info("walk")
    #expect(info.sources.map(\.path) == paths)
    #expect(info.sources.map(\.episodeIdOffset) == [0, 2, 0])
    #expect(info.sources.map(\.rowsStored) == [first.count, second.count, third.count])
    #expect(info.episodes == 8)
    #expect(info.sources.map(\.format) == ["csv", "csv", "jsonl"])
  }

  /// A store with tasks "walk" and "run" made from two CSV files.
  private static func twoTaskStore(_ directory: Fixtures.TemporaryDirectory) throws -> String {
    let walk = directory.file("walk.csv")
    let run = directory.file("run.csv")
    try TextLogs.write(TextLogs.csv(TextLogs.boxRows(task: "walk")), to: walk)
    try TextLogs.write(TextLogs.csv(TextLogs.boxRows(task: "run", scale: 3)), to: run)
    let store = directory.file("store.h5")
    _ = try TextLogs.ingest(Fixtures.options([walk, run], output: store))
    return store
  }

  @Test("append adds a task and keeps the other tasks identical; replace rewrites one task")
  func appendAndReplace() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-text")
    let store = try Self.twoTaskStore(directory)
    let walkBefore = try TextLogs.snapshot(store, task: "walk")
    let runBefore = try TextLogs.snapshot(store, task: "run")
    #expect(walkBefore.count > 10)

    let jumpRows = TextLogs.boxRows(task: "jump", episodes: [4, 5], scale: 5)
    let jump = directory.file("jump.jsonl")
    try TextLogs.write(TextLogs.jsonl(jumpRows), to: jump)
    var options = Fixtures.options([jump], output: store)
    options.append = true
    let summary = try TextLogs.ingest(options)
    #expect(summary.keptTasks.sorted() == ["run", "walk"])
    #expect(summary.tasks.map(\.name) == ["jump"])
    #expect(try StoreReader(path: store).taskNames == ["jump", "run", "walk"])
    #expect(try TextLogs.snapshot(store, task: "walk") == walkBefore)
    #expect(try TextLogs.snapshot(store, task: "run") == runBefore)
    try TextLogs.expectStore(store, task: "jump", rows: jumpRows)

    // The same task again without replace: an error, and the store is left as it was.
    let bytesBefore = try TextLogs.bytes(store)
    let conflict = Fixtures.failure(options)
    #expect(conflict == "\(jump):1: task 'jump' already exists in \(store); pass --replace to replace it")
    #expect(try TextLogs.bytes(store) == bytesBefore)

    // Replace "walk" with new rows; "run" and "jump" are kept as they were.
    let jumpBefore = try TextLogs.snapshot(store, task: "jump")
    let newWalkRows = TextLogs.boxRows(task: "walk", episodes: [9], scale: 7)
    let newWalk = directory.file("walk2.csv")
    try TextLogs.write(TextLogs.csv(newWalkRows), to: newWalk)
    var replace = Fixtures.options([newWalk], output: store)
    replace.append = true
    replace.replace = true
    let replaced = try TextLogs.ingest(replace)
    #expect(replaced.keptTasks.sorted() == ["jump", "run"])
    try TextLogs.expectStore(store, task: "walk", rows: newWalkRows)
    #expect(try StoreReader(path: store).info("walk").sources.map(\.path) == [newWalk])
    #expect(try TextLogs.snapshot(store, task: "run") == runBefore)
    #expect(try TextLogs.snapshot(store, task: "jump") == jumpBefore)
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.contains(".tmp-") }
    #expect(leftovers == [])
  }

  @Test("the same input gives a byte-identical store")
  func deterministicStore() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-text")
    let input = directory.file("logs.csv")
    try TextLogs.write(TextLogs.csv(Self.multiTask, TextLogs.Layout(behavior: true)), to: input)
    _ = try TextLogs.ingest(Fixtures.options([input], output: directory.file("one.h5")))
    Thread.sleep(forTimeInterval: 1.05)
    _ = try TextLogs.ingest(Fixtures.options([input], output: directory.file("two.h5")))
    #expect(try TextLogs.bytes(directory.file("one.h5")) == TextLogs.bytes(directory.file("two.h5")))
  }

  @Test("compression: every column of the store has shuffle + deflate and reads back exactly")
  func compressedStore() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-text")
    let input = directory.file("logs.csv")
    try TextLogs.write(TextLogs.csv(Self.multiTask, TextLogs.Layout(behavior: true)), to: input)
    let store = directory.file("store.h5")
    var options = Fixtures.options([input], output: store)
    options.compression = .deflate(level: 6)
    _ = try TextLogs.ingest(options)
    try TextLogs.expectStore(
      store, task: "reach", rows: Self.rows(of: "reach"), layout: TextLogs.Layout(behavior: true))
    let group = try HDF5File.open(store).group("/tasks/reach")
    for name in try group.memberNames() {
      #expect(try group.dataset(name).filterNames() == ["shuffle", "deflate"], "\(name)")
    }
  }

  // MARK: Missing and mismatching next observations

  @Test(
    "a missing next_obs is accepted only on terminated rows (stored as NaN and counted)", arguments: ["csv", "jsonl"])
  func missingNextObservation(format: String) throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-text")
    var rows = TextLogs.boxRows(task: "walk", episodes: [0, 1, 2, 3])
    // Episode 0 ends terminated (row 1); so does episode 2 once we mark it.
    let terminalOfTwo = rows.lastIndex { $0.episode == 2 }!
    rows[terminalOfTwo].terminated = true
    rows[1].next = ["", ""]
    rows[terminalOfTwo].next = format == "csv" ? ["nan", "NaN"] : ["", ""]
    let input = directory.file("log.\(format)")
    try TextLogs.write(format == "csv" ? TextLogs.csv(rows) : TextLogs.jsonl(rows), to: input)
    let store = directory.file("store.h5")
    let summary = try TextLogs.ingest(Fixtures.options([input], output: store))
    try TextLogs.expectStore(store, task: "walk", rows: rows)
    let next = try StoreReader(path: store).read(task: "walk", column: StoreLayout.nextObservations, as: Double.self)
    #expect(next[2].isNaN && next[3].isNaN)
    #expect(next.filter(\.isNaN).count == 4)
    #expect(summary.tasks.first?.sources.first?.terminalRowsWithoutNextObservation == 2)
    #expect(try StoreReader(path: store).info("walk").sources.first?.terminalRowsWithoutNextObservation == 2)

    // On a row that is not terminated (row 3 is step 0 of episode 1): an error naming line and field.
    var bad = rows
    bad[3].next = ["", ""]
    try TextLogs.write(format == "csv" ? TextLogs.csv(bad) : TextLogs.jsonl(bad), to: input)
    let line = format == "csv" ? 5 : 4
    #expect(
      Fixtures.failure(Fixtures.options([input], output: directory.file("bad.h5")))
        == "\(input):\(line): field 'next_obs': expected a next observation (it may be missing only on a terminated row), found none"
    )
    if format == "csv" {
      // Only some of the next_obs fields empty.
      bad[3].next = ["1", ""]
      try TextLogs.write(TextLogs.csv(bad), to: input)
      #expect(
        Fixtures.failure(Fixtures.options([input], output: directory.file("bad.h5")))
          == "\(input):5: field 'next_obs': expected all next_obs fields present, or all empty on a terminated row, found 1 of 2 empty"
      )
    }
    #expect(!FileManager.default.fileExists(atPath: directory.file("bad.h5")))
  }

  @Test("rows whose next_obs differs from the following row's obs in the same episode are counted")
  func nextObservationMismatches() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-text")
    var rows = TextLogs.boxRows(task: "walk", episodes: [0, 1, 2, 3])
    #expect(rows.count == 10)
    rows[0].next = ["99", "99"]  // episode 0, step 0 -> step 1: mismatch
    rows[2].next = ["99", "99"]  // episode 1 step 0 -> step 1: mismatch
    rows[4].next = ["98", "98"]  // the last row of episode 1: no following row, not counted
    rows[6].next = ["97", "97"]  // the last row of episode 2 (terminated below): not counted
    rows[6].terminated = true
    let input = directory.file("log.csv")
    try TextLogs.write(TextLogs.csv(rows), to: input)
    let store = directory.file("store.h5")
    let summary = try TextLogs.ingest(Fixtures.options([input], output: store))
    #expect(summary.nextObservationMismatches == 2)
    #expect(try StoreReader(path: store).info("walk").sources.first?.nextObservationMismatches == 2)
    try TextLogs.expectStore(store, task: "walk", rows: rows)
  }

  // MARK: skip-invalid

  @Test("skipInvalid drops bad rows and reports every rejection with file, line and message")
  func skipInvalid() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-text")
    let good = TextLogs.boxRows(task: "walk", episodes: [0, 1])
    let header = "task,episode,step,obs_0,obs_1,act_0,reward,next_obs_0,next_obs_1,terminated,truncated"
    var lines = TextLogs.csv(good).split(separator: "\n").map(String.init)
    #expect(lines[0] == header)
    // Insert bad lines after line 2 (the first data row): they become lines 3...8.
    let badLines = [
      "walk,0,9,1,2,0,0,1,2,0",  // 10 fields
      "walk,0,9,abc,2,0,0,1,2,0,0",  // obs_0 not a number
      "walk,0,9,1,nan,0,0,1,2,0,0",  // obs_1 not finite
      "walk,0,9,1,2,0,inf,1,2,0,0",  // reward not finite
      "walk,0,9,1,2,0,0,1,2,2,0",  // terminated not a flag
      "walk,x,9,1,2,0,0,1,2,0,0",  // episode not an integer
    ]
    lines.insert(contentsOf: badLines, at: 2)
    let input = directory.file("log.csv")
    try TextLogs.write(lines.joined(separator: "\n") + "\n", to: input)
    let store = directory.file("store.h5")
    var options = Fixtures.options([input], output: store, skipInvalid: true)
    let summary = try TextLogs.ingest(options)
    #expect(summary.rowsRejected == 6)
    #expect(summary.rowsStored == good.count)
    #expect(summary.rowsRead == good.count + 6)
    let report = store + ".rejects.jsonl"
    #expect(summary.rejectionReport == report)
    try TextLogs.expectStore(store, task: "walk", rows: good)
    let source = try #require(try StoreReader(path: store).info("walk").sources.first)
    #expect(source.rowsRejected == 6)
    #expect(source.rowsRead == good.count + 6)
    #expect(source.rowsStored == good.count)

    let records = try String(contentsOfFile: report, encoding: .utf8).split(separator: "\n").map { line in
      try JSONDecoder().decode(Rejection.self, from: Data(line.utf8))
    }
    #expect(records.map(\.file) == Array(repeating: input, count: 6))
    #expect(records.map(\.location) == (3...8).map { "line \($0)" })
    #expect(
      records.map(\.message) == [
        "field '(row)': expected 11 fields as in the header, found 10",
        "field 'obs_0': expected a finite number, found 'abc'",
        "field 'obs_1': expected a finite number, found 'nan'",
        "field 'reward': expected a finite number, found 'inf'",
        "field 'terminated': expected 0, 1, true or false, found '2'",
        "field 'episode': expected an integer, found 'x'",
      ])

    // A report path of one's own; without skipInvalid the first bad row stops the run.
    options.rejectReport = directory.file("rejected.jsonl")
    options.output = directory.file("second.h5")
    _ = try TextLogs.ingest(options)
    #expect(FileManager.default.fileExists(atPath: directory.file("rejected.jsonl")))
    #expect(
      Fixtures.failure(Fixtures.options([input], output: directory.file("strict.h5")))
        == "\(input):3: field '(row)': expected 11 fields as in the header, found 10")
    #expect(!FileManager.default.fileExists(atPath: directory.file("strict.h5")))
  }

  @Test("skipInvalid in JSON Lines: rejections of each kind, and a discrete action outside the declared space")
  func skipInvalidJSONL() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-text")
    let good = Self.discreteRows
    let layout = TextLogs.Layout(discreteObservation: true, discreteAction: true, taskColumn: false)
    var lines = TextLogs.jsonl(good, layout).split(separator: "\n").map(String.init)
    lines.insert(
      contentsOf: [
        #"{"episode": 0, "step": 5, "obs": 1, "action": 7, "reward": 0, "next_obs": 2, "terminated": false, "truncated": false}"#,
        #"{"episode": 0, "step": 5, "obs": 1, "action": 1.5, "reward": 0, "next_obs": 2, "terminated": false, "truncated": false}"#,
        #"{"episode": 0, "step": 5, "obs": 1, "action": 1, "next_obs": 2, "terminated": false, "truncated": false}"#,
        #"{"episode": 0, "step": 5, "obs": 1, "action": 1, "reward": 1e999, "next_obs": 2, "terminated": false, "truncated": false}"#,
        "",
        #"{"episode": 0, "step": 5, "obs": 1, "action": 1, "reward": 0, "next_obs": 2, "terminated": false, "truncated": false, "extra": 1}"#,
      ], at: 1)
    let input = directory.file("log.jsonl")
    try TextLogs.write(lines.joined(separator: "\n") + "\n", to: input)
    let store = directory.file("store.h5")
    var options = Fixtures.options([input], output: store, task: "grid", skipInvalid: true)
    options.actionSpace = .discrete(n: 3, start: 0)
    let summary = try TextLogs.ingest(options)
    #expect(summary.rowsRejected == 5)
    try TextLogs.expectStore(store, task: "grid", rows: good, layout: layout)
    let records = try String(contentsOfFile: store + ".rejects.jsonl", encoding: .utf8).split(separator: "\n").map {
      try JSONDecoder().decode(Rejection.self, from: Data($0.utf8))
    }
    #expect(records.map(\.location) == ["line 2", "line 3", "line 4", "line 5", "line 7"])
    #expect(
      records.map(\.message) == [
        "field 'action': expected an integer in [0, 2] (declared Discrete(3)), found 7",
        "field 'action': expected an integer, found '1.5'",
        "field 'reward': expected a value, found no such field",
        "field 'reward': expected a finite number, found '1e999'",
        "field 'extra': expected only the fields task, episode, step, obs, action, reward, next_obs, terminated, truncated, behavior_prob, found an unknown field",
      ])
  }

  // MARK: Large files

  @Test("a file larger than one read block: rows keep their order per task and line numbers stay exact", arguments: ["csv", "jsonl"])
  func largeFile(format: String) throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-text")
    // CSV: more than the 8 MiB read block; both: blocks of at least 64 KiB, parsed in two halves
    // on two threads. Three tasks in runs of varying length; obs_0 is the row index.
    let rows = format == "csv" ? 78_000 : 30_000
    // The row replaced by a bad one further down, and where its line starts and ends in the text.
    let badRow = rows - 1000
    var badRange = 0..<0
    let constants = "0.12345678901234567,-1234.5678901234567,3.0000000000000004"
    let tasks = ["alpha", "beta", "gamma"]
    var text = format == "csv" ? "task,episode,step,obs_0,obs_1,obs_2,obs_3,action,reward,next_obs_0,next_obs_1,next_obs_2,next_obs_3,terminated,truncated\n" : ""
    var expected: [String: (obs: [Double], action: [Int64], episode: [Int64], step: [Int64], terminated: [UInt8])] = [:]
    let constantValues = constants.split(separator: ",").map { Double($0)! }
    for i in 0..<rows {
      let task = tasks[(i / 7 + i / 13) % 3]
      let terminated: UInt8 = i % 40 == 39 ? 1 : 0
      let lineStart = text.utf8.count
      defer { if i == badRow { badRange = lineStart..<text.utf8.count } }
      if format == "csv" {
        text += "\(task),\(i / 40),\(i % 40),\(i),\(constants),\(i % 5),-2.5,\(i + 1),\(constants),\(terminated),0\n"
      } else {
        text += #"{"task": "\#(task)", "episode": \#(i / 40), "step": \#(i % 40), "obs": [\#(i), \#(constants)], "action": \#(i % 5), "reward": -2.5, "next_obs": [\#(i + 1), \#(constants)], "terminated": \#(terminated), "truncated": 0}"# + "\n"
      }
      expected[task, default: ([], [], [], [], [])].obs += [Double(i)] + constantValues
      expected[task]!.action.append(Int64(i % 5))
      expected[task]!.episode.append(Int64(i / 40))
      expected[task]!.step.append(Int64(i % 40))
      expected[task]!.terminated.append(terminated)
    }
    let input = directory.file("large.\(format)")
    try TextLogs.write(text, to: input)
    if format == "csv" { #expect(text.utf8.count > 8 << 20 + 100_000) }
    let store = directory.file("store.h5")
    let summary = try TextLogs.ingest(Fixtures.options([input], output: store))
    #expect(summary.rowsStored == rows)
    #expect(summary.nextObservationMismatches == 0)
    let reader = try StoreReader(path: store)
    #expect(reader.taskNames == tasks)
    for task in tasks {
      let columns = try #require(expected[task])
      #expect(try reader.read(task: task, column: StoreLayout.observations, as: Double.self) == columns.obs)
      #expect(try reader.read(task: task, column: StoreLayout.actions, as: Int64.self) == columns.action)
      #expect(try reader.read(task: task, column: StoreLayout.episode, as: Int64.self) == columns.episode)
      #expect(try reader.read(task: task, column: StoreLayout.step, as: Int64.self) == columns.step)
      #expect(try reader.read(task: task, column: StoreLayout.terminations, as: UInt8.self) == columns.terminated)
      #expect(try reader.info(task).sources.first?.rowsRead == columns.step.count)
    }
    // A bad row far into the file (past the first read block for CSV): its line number counts
    // every line before it.
    let badLine = badRow + 1 + (format == "csv" ? 1 : 0)
    var bytes = Data(text.utf8)
    bytes.replaceSubrange(badRange, with: Data((format == "csv" ? "alpha,1,2,3\n" : #"{"task": "alpha"}"# + "\n").utf8))
    if format == "csv" { #expect(badRange.lowerBound > 8 << 20) }
    try bytes.write(to: URL(fileURLWithPath: input))
    let message = Fixtures.failure(Fixtures.options([input], output: directory.file("bad.h5")))
    #expect(message.hasPrefix("\(input):\(badLine): field "), "\(message)")
  }

  // MARK: Bad input, in-process (the end-to-end tests run the same through the binary)

  @Test("observation width differing within a task: across files, and between JSON Lines records")
  func widthMismatch() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-text")
    let narrow = directory.file("narrow.csv")
    let wide = directory.file("wide.csv")
    try TextLogs.write(TextLogs.csv(TextLogs.boxRows(task: "walk")), to: narrow)
    var wideRows = TextLogs.boxRows(task: "walk")
    for i in wideRows.indices {
      wideRows[i].obs.append("1")
      wideRows[i].next.append("1")
    }
    try TextLogs.write(TextLogs.csv(wideRows), to: wide)
    let message = Fixtures.failure(Fixtures.options([narrow, wide], output: directory.file("x.h5")))
    #expect(message.hasPrefix("\(wide):1:"), "\(message)")
    #expect(message.contains("task 'walk'"))
    #expect(message.contains("field 'obs': expected 2 float64 values per row (as in \(narrow)), found 3 float64 values per row"))

    let jsonl = directory.file("ragged.jsonl")
    var lines = TextLogs.jsonl(TextLogs.boxRows(task: "walk")).split(separator: "\n").map(String.init)
    lines[2] = lines[2].replacingOccurrences(of: #""obs": ["#, with: #""obs": [5, "#)
    try TextLogs.write(lines.joined(separator: "\n"), to: jsonl)
    #expect(
      Fixtures.failure(Fixtures.options([jsonl], output: directory.file("x.h5")))
        == "\(jsonl):3: field 'obs': expected an array of 2 numbers (as in the file's first record), found 3")
    #expect(!FileManager.default.fileExists(atPath: directory.file("x.h5")))
  }
}
