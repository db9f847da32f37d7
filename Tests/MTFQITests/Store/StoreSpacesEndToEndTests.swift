import Foundation
import Testing

@testable import MTFQI

/// Logs the project did not generate, ingested as a new user would: one call per task, no
/// declared spaces, integer task ids, a small new task on its own; D4RL-style integer files
/// without next observations; a store written by an older mtfqi-ingest. Every check runs the
/// built executables and reads what they wrote.
@Suite("Store-level spaces, task ids and integer observations, end to end")
struct StoreSpacesEndToEndTests {
  /// One logged transition of a Discrete log.
  struct Row {
    var episode: Int
    var step: Int
    var obs: Int
    var action: Int
    var reward: Double
    var next: Int
    var terminated = false
    var truncated = false
  }

  /// A seeded random walk over states 0..<states (actions 0..<actions; action a moves by a - 1),
  /// episodes of `length` steps, the last truncated; reward 1 on reaching the highest state.
  static func walk(seed: UInt64, states: Int, actions: Int = 3, episodes: Int, length: Int) -> [Row] {
    var state = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    func next(_ bound: Int) -> Int {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return Int((state >> 33) % UInt64(bound))
    }
    var rows: [Row] = []
    for episode in 0..<episodes {
      var s = next(states)
      for step in 0..<length {
        let a = next(actions)
        let n = min(states - 1, max(0, s + a - 1))
        rows.append(
          Row(episode: episode, step: step, obs: s, action: a, reward: n == states - 1 ? 1 : 0, next: n,
            truncated: step == length - 1))
        s = n
      }
    }
    // The highest state appears in the data (so the inferred space is exactly Discrete(states)).
    rows[rows.count - 1].next = states - 1
    return rows
  }

  /// CSV with a task column (`task` is written as given, e.g. an integer id) or without.
  static func csv(_ rows: [Row], task: String?) -> String {
    var text = (task == nil ? "" : "task,") + "episode,step,obs,action,reward,next_obs,terminated,truncated\n"
    for r in rows {
      text += (task.map { "\($0)," } ?? "")
        + "\(r.episode),\(r.step),\(r.obs),\(r.action),\(r.reward),\(r.next),\(r.terminated ? 1 : 0),\(r.truncated ? 1 : 0)\n"
    }
    return text
  }

  /// JSON Lines; `task` is the JSON value text (`7` for an integer id, `"g"` for a string).
  static func jsonl(_ rows: [Row], task: String?) -> String {
    rows.map { r in
      (task.map { "{\"task\": \($0), " } ?? "{")
        + "\"episode\": \(r.episode), \"step\": \(r.step), \"obs\": \(r.obs), \"action\": \(r.action), \"reward\": \(r.reward), \"next_obs\": \(r.next), \"terminated\": \(r.terminated), \"truncated\": \(r.truncated)}"
    }.joined(separator: "\n") + "\n"
  }

  static func write(_ text: String, _ path: String) throws {
    try text.write(toFile: path, atomically: true, encoding: .utf8)
  }

  static func run(_ name: String, _ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws
    -> Executables.Run
  {
    let result = try Executables.run(name, arguments + ["--quiet"], sourceLocation: sourceLocation)
    return result
  }

  static func config(_ directory: String, _ json: String) throws -> String {
    let path = directory + "/train.json"
    try write(json, path)
    return path
  }

  static let oneHotConfig = #"{"features": {"kind": "one-hot"}, "rank": 2, "iterations": 15, "ridge": 1e-4, "single_task": false}"#

  // MARK: Eight calls, a small new task

  @Test("A store made by 8 ingest calls (CSV and JSON Lines, integer task ids, no declared spaces) trains")
  func eightCallsTrain() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-spaces")
    let store = directory.file("store.h5")
    // Task i visits states 0..<(43 + i): every call infers a different Discrete space.
    for i in 0..<8 {
      let rows = Self.walk(seed: UInt64(i + 1), states: 43 + i, episodes: 6, length: 25)
      let path: String
      if i % 2 == 0 {
        path = directory.file("task\(i).csv")
        try Self.write(Self.csv(rows, task: "\(i)"), path)
      } else {
        path = directory.file("task\(i).jsonl")
        try Self.write(Self.jsonl(rows, task: "\(i)"), path)
      }
      let ingest = try Self.run("mtfqi-ingest", [path, "-o", store] + (i == 0 ? [] : ["--append"]))
      #expect(ingest.status == 0, "call \(i): \(ingest)")
    }
    let reader = try StoreReader(path: store)
    #expect(reader.taskNames == (0..<8).map(String.init))
    // Each task keeps its own inferred space; the store's is the merge, recorded at the root.
    #expect(try reader.info("0").observationSpace == .discrete(n: 43, start: 0))
    #expect(try reader.info("7").observationSpace == .discrete(n: 50, start: 0))
    #expect(try reader.spacesRecorded())
    let spaces = try reader.spaces()
    #expect(spaces == StoreSpaces(observation: .discrete(n: 50, start: 0), observationDeclared: false, action: .discrete(n: 3, start: 0), actionDeclared: false))
    let inspect = try Executables.run("mtfqi-inspect", [store])
    #expect(inspect.stdout.contains("Store spaces: observations Discrete(50) (inferred), actions Discrete(3) (inferred)"), "\(inspect)")

    let model = directory.file("model.h5")
    let train = try Self.run(
      "mtfqi-train", [store, "-o", model, "--config", try Self.config(directory.path, Self.oneHotConfig)])
    #expect(train.status == 0, "\(train)")
    let trained = try TrainedModel.read(model)
    #expect(trained.taskNames == (0..<8).map(String.init))
    #expect(trained.featureMap.observationSpace == .discrete(n: 50, start: 0))
    #expect(trained.featureMap.dimension == 150)
    // Coverage reads the same store in the same spaces.
    let coverage = try Self.run("mtfqi-coverage", [store, "-o", directory.file("coverage.json"), "--model", model])
    #expect(coverage.status == 0 || coverage.status == 3, "\(coverage)")
    #expect(FileManager.default.fileExists(atPath: directory.file("coverage.json")))
  }

  @Test("A 50-transition new task ingested alone (Discrete(37) inferred) goes through export and fit against a Discrete(50) model")
  func smallNewTaskReuse() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-spaces")
    var inputs: [String] = []
    for i in 0..<4 {
      let path = directory.file("t\(i).csv")
      try Self.write(Self.csv(Self.walk(seed: UInt64(20 + i), states: 50, episodes: 8, length: 25), task: "t\(i)"), path)
      inputs.append(path)
    }
    let store = directory.file("store.h5")
    #expect(try Self.run("mtfqi-ingest", inputs + ["-o", store]).status == 0)
    let model = directory.file("model.h5")
    let train = try Self.run(
      "mtfqi-train", [store, "-o", model, "--config", try Self.config(directory.path, Self.oneHotConfig)])
    #expect(train.status == 0, "\(train)")

    // The new task: 50 transitions over states 0..36 and actions 0..1 only, JSON Lines with an
    // integer task id, renamed with --task.
    var rows = Self.walk(seed: 99, states: 37, actions: 2, episodes: 5, length: 10)
    #expect(rows.count == 50)
    rows[0].obs = 0
    let newLog = directory.file("new.jsonl")
    try Self.write(Self.jsonl(rows, task: "12"), newLog)
    let newStore = directory.file("new.h5")
    let ingest = try Self.run("mtfqi-ingest", [newLog, "--task", "fresh", "-o", newStore])
    #expect(ingest.status == 0, "\(ingest)")
    let newSpaces = try StoreReader(path: newStore).spaces()
    #expect(newSpaces.observation == .discrete(n: 37, start: 0))
    #expect(newSpaces.action == .discrete(n: 2, start: 0))
    #expect(try StoreReader(path: newStore).taskNames == ["fresh"])

    let representation = directory.file("representation.h5")
    let export = try Self.run("mtfqi-export", [model, "--store", newStore, "-o", representation])
    #expect(export.status == 0, "\(export)")
    let head = directory.file("head.h5")
    let fit = try Self.run("mtfqi-fit", [representation, newStore, "-o", head, "--scratch"])
    #expect(fit.status == 0, "\(fit)")
    #expect(FileManager.default.fileExists(atPath: head))
    // Coverage of the new task under the model: in the model's 50 states.
    let coverage = try Self.run("mtfqi-coverage", [newStore, "--model", model, "-o", directory.file("c.json")])
    #expect(coverage.status == 0, "\(coverage)")
    let report = try String(contentsOfFile: directory.file("c.json"), encoding: .utf8)
    #expect(report.contains("Discrete(50)"), "\(report.prefix(400))")

    // A real mismatch names what differs: a state beyond the model's 49.
    var outside = Self.walk(seed: 7, states: 60, episodes: 2, length: 25)
    outside[0].obs = 59
    let outsideLog = directory.file("outside.csv")
    try Self.write(Self.csv(outside, task: nil), outsideLog)
    let outsideStore = directory.file("outside.h5")
    #expect(try Self.run("mtfqi-ingest", [outsideLog, "--task", "far", "-o", outsideStore]).status == 0)
    let refused = try Self.run("mtfqi-fit", [representation, outsideStore, "-o", directory.file("h2.h5")])
    #expect(refused.status == 1)
    #expect(refused.stderr.contains("Discrete(60) reaches 59, above 49, the highest value of the representation's observation space"), "\(refused.stderr)")
    let refusedCoverage = try Self.run("mtfqi-coverage", [outsideStore, "--model", model, "-o", directory.file("c2.json")])
    #expect(refusedCoverage.status == 1, "\(refusedCoverage)")
    #expect(refusedCoverage.stderr.contains("the model does not fit \(outsideStore): the store's observation space Discrete(60) reaches 59, above 49"), "\(refusedCoverage.stderr)")
    let refusedExport = try Self.run("mtfqi-export", [model, "--store", outsideStore, "-o", directory.file("r2.h5")])
    #expect(refusedExport.status == 1 && refusedExport.stderr.contains("reaches 59, above 49"), "\(refusedExport)")

    // Integer states written as obs_0 (a one-wide Box): one flag away, and the message says which.
    var text = "episode,step,obs_0,action,reward,next_obs_0,terminated,truncated\n"
    for r in rows { text += "\(r.episode),\(r.step),\(r.obs),\(r.action),\(r.reward),\(r.next),0,\(r.truncated ? 1 : 0)\n" }
    let boxLog = directory.file("box.csv")
    try Self.write(text, boxLog)
    let boxStore = directory.file("box.h5")
    #expect(try Self.run("mtfqi-ingest", [boxLog, "--task", "fresh", "-o", boxStore]).status == 0)
    for (stage, arguments) in [
      ("mtfqi-fit", [representation, boxStore, "-o", directory.file("h3.h5")]),
      ("mtfqi-export", [model, "--store", boxStore, "-o", directory.file("r3.h5")]),
    ] {
      let hinted = try Self.run(stage, arguments)
      #expect(hinted.status == 1, "\(stage): \(hinted)")
      #expect(hinted.stderr.contains("is Box(shape=(1,), float64) but the representation's observation space (one-hot features) is Discrete(50)"), "\(stage): \(hinted.stderr)")
      #expect(hinted.stderr.contains("re-ingest with --observation-space discrete:50 or name the column 'obs'"), "\(stage): \(hinted.stderr)")
    }
  }

  // MARK: Box spaces

  @Test("A Box store built from per-task calls trains with Fourier features; the store's bounds are the union")
  func boxPerTaskFourier() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-spaces")
    let store = directory.file("store.h5")
    var lows = [Double](repeating: .infinity, count: 2)
    var highs = [Double](repeating: -.infinity, count: 2)
    for i in 0..<4 {
      let rows = Self.walk(seed: UInt64(40 + i), states: 30, episodes: 4, length: 20)
      // Two-wide float observations, scaled differently per task so the inferred bounds differ.
      let scale = Double(i + 1) * 0.25
      func value(_ s: Int, _ k: Int) -> Double { (Double(s) * scale + Double(k)) / 7 }
      var text = "episode,step,obs_0,obs_1,action,reward,next_obs_0,next_obs_1,terminated,truncated\n"
      for r in rows {
        for s in [r.obs, r.next] {
          for k in 0..<2 {
            lows[k] = min(lows[k], value(s, k))
            highs[k] = max(highs[k], value(s, k))
          }
        }
        text += "\(r.episode),\(r.step),\(value(r.obs, 0)),\(value(r.obs, 1)),\(r.action),\(r.reward),\(value(r.next, 0)),\(value(r.next, 1)),0,\(r.truncated ? 1 : 0)\n"
      }
      let path = directory.file("box\(i).csv")
      try Self.write(text, path)
      let ingest = try Self.run("mtfqi-ingest", [path, "--task", "box\(i)", "-o", store] + (i == 0 ? [] : ["--append"]))
      #expect(ingest.status == 0, "\(ingest)")
    }
    let spaces = try StoreReader(path: store).spaces()
    #expect(spaces.observation == .box(shape: [2], dtype: .float64, low: lows, high: highs))
    #expect(!spaces.observationDeclared)
    let model = directory.file("model.h5")
    let config = try Self.config(
      directory.path,
      #"{"features": {"kind": "fourier", "fourier_features": 16}, "rank": 2, "iterations": 8, "ridge": 1e-3, "single_task": false}"#)
    let train = try Self.run("mtfqi-train", [store, "-o", model, "--config", config])
    #expect(train.status == 0, "\(train)")
    #expect(try TrainedModel.read(model).featureMap.spec.kind == .fourier)
  }

  // MARK: D4RL integer observations

  /// Q(s, a) from a Q-table CSV (`state,action_0,...`).
  static func qTable(_ path: String) throws -> [Int: [Double]] {
    let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").dropFirst()
    var table: [Int: [Double]] = [:]
    for line in lines {
      let fields = line.split(separator: ",")
      guard let state = Int(fields[0]) else { continue }
      table[state] = fields.dropFirst().compactMap { Double($0) }
    }
    return table
  }

  @Test("A D4RL-style file with integer observations and no next_observations keeps its terminal rows, masked, and never bootstraps from them")
  func integerD4RL() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-spaces")
    let store = directory.file("store.h5")
    let file = Fixtures.d4rl("no-next-obs-integer")
    // The same log as two tasks: identical tasks make the rank-1 fit the tabular one.
    #expect(try Self.run("mtfqi-ingest", [file, "--task", "a", "-o", store]).status == 0)
    let second = try Self.run("mtfqi-ingest", [file, "--task", "b", "-o", store, "--append", "--json"])
    #expect(second.status == 0, "\(second)")
    let reader = try StoreReader(path: store)
    let source = try #require(try reader.info("a").sources.first)
    #expect(source.rowsRead == 18 && source.rowsStored == 17)
    #expect(source.timeoutRowsDropped == 1)
    #expect(source.terminalRowsWithoutNextObservation == 3)
    let observations = try reader.read(task: "a", column: StoreLayout.observations, as: Int64.self)
    let next = try reader.read(task: "a", column: StoreLayout.nextObservations, as: Int64.self)
    let terminations = try reader.read(task: "a", column: StoreLayout.terminations, as: UInt8.self)
    let missing = try reader.read(task: "a", column: StoreLayout.nextObservationMissing, as: UInt8.self)
    let masked = missing.indices.filter { missing[$0] == 1 }
    #expect(masked == [4, 10, 16])
    for row in masked {
      #expect(terminations[row] == 1)
      #expect(next[row] == observations[row], "the placeholder is the row's own observation")
    }
    #expect([4, 10, 16].map { observations[$0] } == [13, 14, 15])
    #expect(try reader.spaces().observation == .discrete(n: 16, start: 0))
    // The same in plain h5py: the mask, the placeholders and the store's spaces at the root.
    if H5pyRoundTripTests.pythonWithH5py {
      let script = """
        import h5py, json, sys
        f = h5py.File(sys.argv[1], "r")
        t = f["tasks/b"]
        m = t["next_observation_missing"][:]
        rows = [int(i) for i in m.nonzero()[0]]
        assert rows == [4, 10, 16], rows
        assert all(t["terminations"][r] == 1 and t["next_observations"][r] == t["observations"][r] for r in rows)
        space = json.loads(f.attrs["observation_space"])
        assert space == {"type": "Discrete", "dtype": "int64", "start": 0, "n": 16}, space
        origin = f.attrs["observation_space_origin"]
        assert (origin.decode() if isinstance(origin, bytes) else origin) == "inferred", origin
        print("ok")
        """
      let check = try Executables.runTool([Executables.python, "-c", script, store])
      #expect(check.status == 0 && check.stdout.contains("ok"), "\(check)")
    }

    // States 13..15 occur only on those terminal rows, with reward 1: Q there is 1, not the
    // 1 + 0.9 Q(s, .) a bootstrap from the placeholder would give.
    let model = directory.file("model.h5")
    let config = try Self.config(
      directory.path,
      #"{"features": {"kind": "one-hot"}, "rank": 1, "iterations": 30, "ridge": 2e-5, "als_tolerance": 1e-10, "single_task": false}"#)
    let train = try Self.run("mtfqi-train", [store, "-o", model, "--config", config, "--q-tables", directory.file("q")])
    #expect(train.status == 0, "\(train)")
    let q = try Self.qTable(directory.file("q/a.csv"))
    for (state, action) in [(13, 3), (14, 0), (15, 3)] {
      let value = try #require(q[state]?[action])
      #expect(abs(value - 1) < 5e-3, "Q(\(state), \(action)) = \(value)")
    }
  }

  @Test("CSV and JSON Lines: a terminated Discrete row without next_obs is kept with its own state as placeholder, masked", arguments: ["csv", "jsonl"])
  func textDiscreteMissingNext(format: String) throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-spaces")
    let path = directory.file("log.\(format)")
    let text: String
    if format == "csv" {
      text = "episode,step,obs,action,reward,next_obs,terminated,truncated\n0,0,2,1,0,3,0,0\n0,1,3,0,1,,1,0\n1,0,4,1,0,5,0,1\n"
    } else {
      text = """
        {"episode": 0, "step": 0, "obs": 2, "action": 1, "reward": 0, "next_obs": 3, "terminated": false, "truncated": false}
        {"episode": 0, "step": 1, "obs": 3, "action": 0, "reward": 1, "next_obs": null, "terminated": true, "truncated": false}
        {"episode": 1, "step": 0, "obs": 4, "action": 1, "reward": 0, "next_obs": 5, "terminated": false, "truncated": true}

        """
    }
    try Self.write(text, path)
    let store = directory.file("s.h5")
    let ingest = try Self.run("mtfqi-ingest", [path, "--task", "t", "-o", store])
    #expect(ingest.status == 0, "\(ingest)")
    let reader = try StoreReader(path: store)
    #expect(try reader.read(task: "t", column: StoreLayout.nextObservations, as: Int64.self) == [3, 3, 5])
    #expect(try reader.read(task: "t", column: StoreLayout.nextObservationMissing, as: UInt8.self) == [0, 1, 0])
    #expect(try reader.info("t").sources.first?.terminalRowsWithoutNextObservation == 1)
    #expect(try reader.spaces().observation == .discrete(n: 6, start: 0))
    // On a row that would bootstrap it stays an error naming the line.
    let bootstrapping = text.replacingOccurrences(of: format == "csv" ? ",,1,0" : "\"terminated\": true", with: format == "csv" ? ",,0,0" : "\"terminated\": false")
    try Self.write(bootstrapping, path)
    let refused = try Self.run("mtfqi-ingest", [path, "--task", "t", "-o", directory.file("x.h5")])
    #expect(refused.status == 1)
    #expect(refused.stderr.contains("\(path):\(format == "csv" ? 3 : 2): field 'next_obs': expected a next observation (it may be missing only on a terminated row)"), "\(refused.stderr)")
  }

  @Test("Float D4RL rows without a next observation: NaN and the same mask")
  func floatD4RLMask() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-spaces")
    let store = directory.file("s.h5")
    #expect(try Self.run("mtfqi-ingest", [Fixtures.d4rl("no-next-obs-last-terminal"), "--task", "f", "-o", store]).status == 0)
    let reader = try StoreReader(path: store)
    let next = try reader.read(task: "f", column: StoreLayout.nextObservations, as: Double.self)
    let missing = try reader.read(task: "f", column: StoreLayout.nextObservationMissing, as: UInt8.self)
    let terminations = try reader.read(task: "f", column: StoreLayout.terminations, as: UInt8.self)
    let nanRows = (0..<missing.count).filter { next[$0 * 4].isNaN }
    #expect(!nanRows.isEmpty)
    #expect(missing.indices.filter { missing[$0] == 1 } == nanRows)
    #expect(nanRows.allSatisfy { terminations[$0] == 1 })
    #expect(try reader.info("f").sources.first?.terminalRowsWithoutNextObservation == nanRows.count)
  }

  @Test("A store whose mask marks a row that bootstraps is refused by every reader")
  func maskOnBootstrappingRowRefused() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-spaces")
    let store = directory.file("store.h5")
    #expect(try Self.run("mtfqi-ingest", [Fixtures.d4rl("no-next-obs-integer"), "--task", "a", "-o", store]).status == 0)
    // Damage it: clear the termination of a masked row.
    do {
      let file = try HDF5File.open(store, writable: true)
      let terminations = try file.group("/tasks/a").dataset(StoreLayout.terminations)
      let zero: [UInt8] = [0]
      try zero.withUnsafeBufferPointer { b throws(HDF5Error) in try terminations.writeRows(10..<11, from: b) }
    }
    let train = try Self.run("mtfqi-train", [store, "-o", directory.file("m.h5"), "--rank", "1", "--allow-unidentifiable"])
    #expect(train.status != 0)
    #expect(train.stderr.contains("/tasks/a/next_observation_missing row 10"), "\(train.stderr)")
  }

  // MARK: Task ids

  @Test("Integer JSON task ids name the task as a CSV column does; --task renames a file's single task; --task-map renames several")
  func taskIDs() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-spaces")
    let rows = Self.walk(seed: 3, states: 6, episodes: 2, length: 5)
    let json = directory.file("a.jsonl")
    let csv = directory.file("b.csv")
    try Self.write(Self.jsonl(rows, task: "7"), json)
    try Self.write(Self.csv(rows, task: "7"), csv)
    let store = directory.file("s.h5")
    let both = try Self.run("mtfqi-ingest", [json, csv, "-o", store])
    #expect(both.status == 0, "\(both)")
    let reader = try StoreReader(path: store)
    #expect(reader.taskNames == ["7"])
    #expect(try reader.info("7").transitions == 2 * rows.count)

    // --task renames the file's one task (a CSV task column holding 0).
    let zero = directory.file("zero.csv")
    try Self.write(Self.csv(rows, task: "0"), zero)
    #expect(try Self.run("mtfqi-ingest", [zero, "--task", "g0", "-o", store]).status == 0)
    #expect(try StoreReader(path: store).taskNames == ["g0"])

    // --task-map renames several; --task on a file of two tasks is refused with the line.
    let two = directory.file("two.jsonl")
    try Self.write(Self.jsonl(rows, task: "0") + Self.jsonl(rows, task: "1"), two)
    let mapped = try Self.run("mtfqi-ingest", [two, "--task-map", "0=reach", "--task-map", "1=push", "-o", store])
    #expect(mapped.status == 0, "\(mapped)")
    #expect(try StoreReader(path: store).taskNames == ["push", "reach"])
    let refused = try Self.run("mtfqi-ingest", [two, "--task", "g", "-o", directory.file("x.h5")])
    #expect(refused.status == 1)
    #expect(refused.stderr.contains("\(two):\(rows.count + 1): field 'task': --task g renames the single task of a file, but this file has tasks '0' and '1'"), "\(refused.stderr)")
    // Even when --task names one of them.
    let named = try Self.run("mtfqi-ingest", [two, "--task", "1", "-o", directory.file("x.h5")])
    #expect(named.status == 1 && named.stderr.contains("this file has tasks '0' and '1'"), "\(named)")

    // An invalid name: file and line, the name cut to 64 characters.
    let long = String(repeating: "x", count: 100) + "/bad"
    let bad = directory.file("bad.jsonl")
    try Self.write(Self.jsonl(Array(rows.prefix(2)), task: "3") + Self.jsonl(Array(rows.prefix(1)), task: "\"\(long)\""), bad)
    let invalid = try Self.run("mtfqi-ingest", [bad, "-o", directory.file("x.h5")])
    #expect(invalid.status == 1)
    #expect(invalid.stderr.contains("\(bad):3: field 'task': expected a task name"), "\(invalid.stderr)")
    #expect(invalid.stderr.contains("found '\(String(repeating: "x", count: 64))…'"), "\(invalid.stderr)")
    #expect(!FileManager.default.fileExists(atPath: directory.file("x.h5")))
    // Fractions are not task ids.
    let fraction = directory.file("fraction.jsonl")
    try Self.write(Self.jsonl(Array(rows.prefix(1)), task: "1.5"), fraction)
    let noFraction = try Self.run("mtfqi-ingest", [fraction, "-o", directory.file("x.h5")])
    #expect(noFraction.stderr.contains("\(fraction):1: field 'task': expected a string or an integer, found '1.5'"), "\(noFraction.stderr)")
  }

  // MARK: Declared spaces across calls

  @Test("Declared spaces are the store's: appended data outside them is refused with file, line and value; a wider inferred task widens an inferred store")
  func declaredAcrossCalls() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-spaces")
    let store = directory.file("s.h5")
    let first = directory.file("first.csv")
    try Self.write(Self.csv(Self.walk(seed: 5, states: 10, episodes: 2, length: 5), task: nil), first)
    #expect(
      try Self.run(
        "mtfqi-ingest", [first, "--task", "a", "-o", store, "--observation-space", "discrete:12", "--action-space", "discrete:3"]
      ).status == 0)
    var rows = Self.walk(seed: 6, states: 10, episodes: 2, length: 5)
    rows[3].obs = 12
    let outside = directory.file("outside.csv")
    try Self.write(Self.csv(rows, task: nil), outside)
    let before = try Data(contentsOf: URL(fileURLWithPath: store))
    let refused = try Self.run("mtfqi-ingest", [outside, "--task", "b", "-o", store, "--append"])
    #expect(refused.status == 1)
    #expect(refused.stderr.contains("\(outside):5: field 'obs': expected an integer in [0, 11] (declared Discrete(12)), found 12"), "\(refused.stderr)")
    #expect(try Data(contentsOf: URL(fileURLWithPath: store)) == before)
    // Inside it: accepted, and the store's space stays the declared one.
    rows[3].obs = 11
    try Self.write(Self.csv(rows, task: nil), outside)
    #expect(try Self.run("mtfqi-ingest", [outside, "--task", "b", "-o", store, "--append"]).status == 0)
    let spaces = try StoreReader(path: store).spaces()
    #expect(spaces.observation == .discrete(n: 12, start: 0) && spaces.observationDeclared)

    // A declared Box: data beyond a bound is refused naming the dimension and the two values.
    let box = directory.file("box.csv")
    try Self.write(
      "episode,step,obs_0,obs_1,action,reward,next_obs_0,next_obs_1,terminated,truncated\n0,0,0.5,0.2,1,0,0.6,0.3,0,0\n0,1,0.6,0.3,0,1,0.7,1.25,1,0\n", box)
    let boxRefused = try Self.run(
      "mtfqi-ingest",
      [box, "--task", "b", "-o", directory.file("box.h5"), "--observation-space", #"{"type": "Box", "dtype": "float64", "shape": [2], "low": [0, 0], "high": [1, 1]}"#])
    #expect(boxRefused.status == 1)
    #expect(boxRefused.stderr.contains("\(box):3: field 'next_obs_1': expected a number in [0.0, 1.0]"), "\(boxRefused.stderr)")
    #expect(boxRefused.stderr.hasSuffix("found 1.25\n"), "\(boxRefused.stderr)")
    // HDF5 sources are checked against declared bounds as a whole: file, dimension, both values.
    let d4rl = Fixtures.d4rl("with-next-obs")
    let hdf5Refused = try Self.run(
      "mtfqi-ingest",
      [d4rl, "--task", "w", "-o", directory.file("box.h5"), "--observation-space", #"{"type": "Box", "dtype": "float32", "shape": [3], "low": [-1, -1, -1], "high": [1, 1, 1]}"#])
    #expect(hdf5Refused.status == 1)
    #expect(hdf5Refused.stderr.contains("\(d4rl): data outside the declared observation space"), "\(hdf5Refused.stderr)")
    #expect(hdf5Refused.stderr.contains("dimension 0: the observations of task 'w' low "), "\(hdf5Refused.stderr)")
    #expect(!FileManager.default.fileExists(atPath: directory.file("box.h5")))
  }

  // MARK: Older stores

  @Test("A store written by the previous mtfqi-ingest (per-task spaces only) opens, reports its spaces as before, and trains")
  func oldFormatStore() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-spaces")
    let store = directory.file("old.h5")
    try FileManager.default.copyItem(atPath: Fixtures.path("store-v1/two-tasks.h5"), toPath: store)
    let reader = try StoreReader(path: store)
    #expect(try !reader.spacesRecorded())
    #expect(try reader.info("a").observationSpace == .discrete(n: 5, start: 0))
    #expect(try reader.info("b").observationSpace == .discrete(n: 6, start: 0))
    #expect(try reader.spaces().observation == .discrete(n: 6, start: 0))
    let inspect = try Executables.run("mtfqi-inspect", [store])
    #expect(inspect.status == 0)
    #expect(inspect.stdout.contains("Discrete(5) (inferred) int64"), "\(inspect.stdout)")
    #expect(inspect.stdout.contains("merged from the tasks' own spaces"), "\(inspect.stdout)")
    let train = try Self.run(
      "mtfqi-train",
      [store, "-o", directory.file("m.h5"), "--config", try Self.config(directory.path, Self.oneHotConfig)])
    #expect(train.status == 0, "\(train)")
    #expect(try TrainedModel.read(directory.file("m.h5")).featureMap.observationSpace == .discrete(n: 6, start: 0))
    // Appending with this mtfqi records the store's spaces at the root.
    let more = directory.file("c.csv")
    try Self.write(Self.csv(Self.walk(seed: 8, states: 7, episodes: 1, length: 5), task: "c"), more)
    #expect(try Self.run("mtfqi-ingest", [more, "-o", store, "--append"]).status == 0)
    let appended = try StoreReader(path: store)
    #expect(try appended.spacesRecorded())
    #expect(try appended.spaces().observation == .discrete(n: 7, start: 0))
  }

  @Test("An older store whose tasks share no space (Discrete and Box) still opens and inspects; a task of it trains alone")
  func oldMixedKindsStore() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-spaces")
    let store = directory.file("mixed.h5")
    try FileManager.default.copyItem(atPath: Fixtures.path("store-v1/mixed-kinds.h5"), toPath: store)
    let inspect = try Executables.run("mtfqi-inspect", [store])
    #expect(inspect.status == 0, "\(inspect)")
    #expect(inspect.stdout.contains("Store spaces: none common to the tasks"), "\(inspect.stdout)")
    #expect(inspect.stdout.contains("Box(shape=(2,), float64) (inferred) float64"), "\(inspect.stdout)")
    let alone = try Self.run(
      "mtfqi-train", [store, "-o", directory.file("m.h5"), "--tasks", "a", "--rank", "1", "--features", "one-hot", "--ridge", "1e-3"])
    #expect(alone.status == 0, "\(alone)")
    let both = try Self.run("mtfqi-train", [store, "-o", directory.file("m2.h5"), "--rank", "1", "--features", "one-hot"])
    #expect(both.status != 0)
    #expect(both.stderr.contains("task c has observation space Box(shape=(2,), float64) but task a has Discrete(5)"), "\(both.stderr)")
  }

  // MARK: Hints

  @Test("One-hot on a one-wide Box of integers suggests --observation-space discrete:N (train and fit)")
  func integerBoxHints() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-spaces")
    let rows = Self.walk(seed: 11, states: 9, episodes: 3, length: 6)
    var text = "task,episode,step,obs_0,action,reward,next_obs_0,terminated,truncated\n"
    for r in rows { text += "t,\(r.episode),\(r.step),\(r.obs),\(r.action),\(r.reward),\(r.next),0,\(r.truncated ? 1 : 0)\n" }
    let log = directory.file("box.csv")
    try Self.write(text, log)
    let store = directory.file("s.h5")
    #expect(try Self.run("mtfqi-ingest", [log, "-o", store]).status == 0)
    let train = try Self.run(
      "mtfqi-train", [store, "-o", directory.file("m.h5"), "--features", "one-hot", "--rank", "1"])
    #expect(train.status != 0)
    #expect(train.stderr.contains("re-ingest with --observation-space discrete:9 or name the column 'obs'"), "\(train.stderr)")
    let coverage = try Self.run("mtfqi-coverage", [store, "--features", "one-hot", "-o", directory.file("c.json")])
    #expect(coverage.status != 0 && coverage.status != 3)
    #expect(coverage.stderr.contains("re-ingest with --observation-space discrete:9 or name the column 'obs'"), "\(coverage.stderr)")
    // One flag away indeed: with it, the same log trains one-hot.
    let discrete = directory.file("d.h5")
    #expect(try Self.run("mtfqi-ingest", [log, "-o", discrete, "--observation-space", "discrete:9"]).status == 0)
    let retrained = try Self.run(
      "mtfqi-train", [discrete, "-o", directory.file("m.h5"), "--features", "one-hot", "--rank", "1", "--ridge", "1e-3"])
    #expect(retrained.status == 0, "\(retrained)")
  }
}
