import Foundation
import Numerics
import Testing

@testable import MTFQI

/// End-to-end: runs the built `mtfqi-train` and checks stdout, stderr, exit status and files.
@Suite("Train: the mtfqi-train command", .serialized)
struct TrainCommandTests {
  /// A small discounted family (T = 6, n = 600, S = 20, A = 3, k = 2, d = 10) as logs, store,
  /// feature table and truth, made once for the suite.
  struct Pipeline: Sendable {
    var directory: String
    var store: String
    var features: String
    var truth: String
  }

  static let small: Result<Pipeline, any Error> = Result {
    let directory = try Fixtures.sharedDirectory("mtfqi-train-tests")
    let parameters = TrainFixtures.parameters(
      tasks: 6, samples: 600, states: 20, actions: 3, rank: 2, dim: 10, seed: 3)
    let paths = try TrainFixtures.pipeline(parameters, in: directory)
    return Pipeline(
      directory: directory, store: paths.store, features: paths.features, truth: paths.truth)
  }

  /// A fresh scratch directory inside the suite's directory.
  static func scratch(_ label: String) throws -> String {
    let path = try small.get().directory + "/\(label)-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  @Test("--help explains with an example; --version prints the version")
  func helpAndVersion() throws {
    let help = try TrainFixtures.train(["--help"])
    #expect(help.status == 0)
    #expect(help.stdout.contains("Examples:"))
    #expect(help.stdout.contains("mtfqi-train build/store.h5 -o build/model.h5"))
    #expect(help.stdout.contains("--q-tables"))
    let version = try TrainFixtures.train(["--version"])
    #expect(version.status == 0)
    #expect(version.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == MTFQIVersion.string)
  }

  @Test("Trains with a config file and overriding flags; writes the model, Q tables and a summary")
  func trainsWithConfigAndFlags() throws {
    let pipeline = try Self.small.get()
    let directory = try Self.scratch("config")
    let config = directory + "/train.json"
    try """
    {"features": {"kind": "table", "table": "\(pipeline.features)"}, "rank": 3, "iterations": 9,
     "ridge": 1e-5, "truth": "\(pipeline.truth)"}
    """.write(toFile: config, atomically: true, encoding: .utf8)
    let model = directory + "/model.h5"
    let run = try TrainFixtures.train([
      pipeline.store, "-o", model, "--config", config, "--rank", "2", "--iterations", "12",
      "--q-tables", directory + "/q",
    ])
    #expect(run.status == 0, "\(run)")
    #expect(run.stderr.isEmpty, "no progress when stderr is not a terminal: \(run.stderr)")
    for fragment in [
      "6 task(s), 3600 transitions", "multitask", "single-task", "oracle", "sin(theta)",
      "Q tables: 6 file(s)",
    ] {
      #expect(run.stdout.contains(fragment), "summary lacks '\(fragment)': \(run.stdout)")
    }
    let trained = try TrainedModel.read(model)
    #expect(trained.rank == 2)  // the flag wins over the config
    #expect(trained.parameters.objective == .discounted(gamma: 0.9, iterations: 12))
    #expect(trained.parameters.ridge == 1e-5)  // from the config
    #expect(trained.featureMap.spec.kind == .table && trained.featureMap.dimension == 10)
    #expect(trained.log.count == 12 && trained.singleTask?.log.count == 12)
    #expect(trained.oracle != nil)
    #expect(trained.storeSHA256 == (try Executables.sha256sum(pipeline.store)))
    #expect(trained.configJSON.contains("\"iterations\":12"))
    // Q tables: a header and one row per state; the values are the model's, exactly.
    let text = try String(contentsOfFile: directory + "/q/task00.csv", encoding: .utf8)
    let lines = text.split(separator: "\n")
    #expect(lines.first == "state,action_0,action_1,action_2")
    #expect(lines.count == 21)
    let table = try #require(try trained.featureMap.qTable(try trained.theta(task: 0)))
    let row7 = lines[8].split(separator: ",").map { Double(String($0)) }
    #expect(row7[0] == 7)
    for a in 0..<3 { #expect(row7[a + 1] == table[7 * 3 + a]) }
    // --json
    let json = try TrainFixtures.train([
      pipeline.store, "-o", directory + "/model2.h5", "--features", "one-hot", "--rank", "2",
      "--iterations", "3", "--json",
    ])
    #expect(json.status == 0, "\(json)")
    let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
    #expect(object?["feature_dim"] as? Int == 60)
    #expect((object?["tasks"] as? [String])?.count == 6)
  }

  @Test("Two runs with the same seed give identical arrays and attributes, timing aside")
  func deterministic() throws {
    let pipeline = try Self.small.get()
    let directory = try Self.scratch("determinism")
    var contents: [[String: String]] = []
    for name in ["a.h5", "b.h5"] {
      let run = try TrainFixtures.train([
        pipeline.store, "-o", directory + "/" + name, "--features", "fourier",
        "--fourier-features", "8", "--rank", "2", "--iterations", "6", "--seed", "11",
        "--truth", pipeline.truth,
      ])
      #expect(run.status == 0, "\(run)")
      contents.append(try TrainFixtures.contents(directory + "/" + name))
    }
    var timing: Set<String> = ["/@seconds", "/selection@seconds", "/feature_selection@seconds"]
    for log in ["/training_log", "/baselines/single_task/log", "/baselines/oracle/log"] {
      timing.insert(log + "/seconds")
      timing.insert(log + "/target_seconds")
    }
    let keys = Set(contents[0].keys).union(contents[1].keys)
    #expect(keys.contains("/representation/B") && keys.contains("/features/fourier_weights"))
    for key in keys.sorted() where !timing.contains(key) {
      #expect(contents[0][key] == contents[1][key], "\(key) differs")
    }
  }

  @Test(
    "Progress per iteration on stderr when it is a terminal; --quiet silences it",
    .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "needs /usr/bin/script (util-linux) for a pseudo-terminal"))
  func progressOnTerminal() throws {
    let pipeline = try Self.small.get()
    let directory = try Self.scratch("progress")
    let binary = try Executables.url("mtfqi-train").path
    func underTerminal(_ extra: String) throws -> Executables.Run {
      // script(1) gives the command a pseudo-terminal; its stdout and stderr both reach the
      // typescript, which goes to our stdout.
      try Executables.run(
        url: URL(fileURLWithPath: "/usr/bin/script"),
        [
          "-qec",
          "\(binary) \(pipeline.store) -o \(directory)/model.h5 --rank 2 --iterations 4 \(extra)",
          "/dev/null",
        ])
    }
    let shown = try underTerminal("")
    #expect(shown.status == 0, "\(shown)")
    #expect(shown.stdout.contains("multitask 4/4: Bellman residual"), "\(shown.stdout)")
    #expect(shown.stdout.contains("single-task 1/4"))
    let quiet = try underTerminal("--quiet")
    #expect(quiet.status == 0)
    #expect(!quiet.stdout.contains("multitask 4/4"))
    #expect(quiet.stdout.contains("mtfqi-train: 6 task(s)"))
  }

  @Test("Guardrail: fewer tasks than the rank")
  func fewerTasksThanRank() throws {
    let pipeline = try Self.small.get()
    let run = try TrainFixtures.train([
      pipeline.store, "-o", try Self.scratch("rank") + "/model.h5", "--rank", "7",
    ])
    #expect(run.status == 1, "\(run)")
    #expect(run.stderr.contains("Error: "))
    #expect(run.stderr.contains("6 task(s) but rank k = 7"))
    #expect(run.stderr.contains("not identifiable"))
  }

  @Test(
    "Guardrail: fewer than 2D rows per task trains (the multitask regime); ridge 0 with fewer rows than D is refused, and the suggested ridge passes as printed"
  )
  func tooFewSamples() throws {
    let directory = try Self.scratch("few")
    let paths = try TrainFixtures.pipeline(
      TrainFixtures.parameters(tasks: 3, samples: 8, states: 20, actions: 3, rank: 2, dim: 10),
      in: directory)
    let arguments = [
      paths.store, "-o", directory + "/model.h5", "--features", "table", "--feature-table",
      paths.features, "--rank", "2", "--iterations", "3",
    ]
    let run = try TrainFixtures.train(arguments + ["--ridge", "0"])
    #expect(run.status == 1, "\(run)")
    #expect(run.stderr.contains("has 8 transitions for D = 10 features (fewer rows than features)"))
    #expect(run.stderr.contains("not identifiable"))
    #expect(!FileManager.default.fileExists(atPath: directory + "/model.h5"))
    // The suggestion, passed back exactly as printed, is accepted.
    let suggested = try #require(
      run.stderr.components(separatedBy: "(--ridge ").dropFirst().first?
        .components(separatedBy: " ").first)
    let again = try TrainFixtures.train(arguments + ["--ridge", suggested])
    #expect(again.status == 0, "\(again)")
    // 8 rows per task for D = 10 (fewer than 2D) at a small ridge: the intended use.
    let small = try TrainFixtures.train(arguments + ["--ridge", "1e-6"])
    #expect(small.status == 0, "\(small)")
  }

  @Test("The suggested ridge is rounded up: the printed value is never below the floor")
  func suggestedRidgeRoundsUp() {
    for value in [5.0001e-06, 1.23456789e-3, 9.99999e-7, 2.5e-4] {
      let text = Trainer.suggestedRidge(value)
      #expect((Double(text) ?? 0) >= value, "\(text) < \(value)")
    }
  }

  /// Baird-style off-policy divergence: every row goes from psi = 1 to psi = 2 with reward 1,
  /// so each FQI step multiplies Q by about 2 gamma = 1.8.
  static func divergingStore(_ directory: String) throws -> (store: String, table: String) {
    var text = "task,episode,step,obs,action,reward,next_obs,terminated,truncated\n"
    for task in ["a", "b"] {
      for i in 0..<10 { text += "\(task),\(i),0,0,0,1,1,0,1\n" }
    }
    let store = try Fixtures.ingestCSV(
      text, directory: directory, name: "diverge", states: 2, actions: 1)
    let table = directory + "/diverge-features.h5"
    try FeatureMapTests.writeTable(table, [1, 2], states: 2, actions: 1, dim: 1)
    return (store, table)
  }

  @Test(
    "Bounded by construction: the Baird store trains at ridge 1e-6 with clipping (Q = 10 = max r / (1 - gamma)); without clipping it diverges, restarts with stronger ridges, and stops naming the iteration, the task and what was tried"
  )
  func divergence() throws {
    let directory = try Self.scratch("diverge")
    let (store, table) = try Self.divergingStore(directory)
    let base = [
      store, "-o", directory + "/model.h5", "--feature-table", table, "--rank", "1",
      "--iterations", "30", "--ridge", "1e-6",
    ]
    let clipped = try TrainFixtures.train(base)
    #expect(clipped.status == 0, "\(clipped)")
    let model = try TrainedModel.read(directory + "/model.h5")
    // theta = 1 + 0.9 min(2 theta, 10) reaches its fixed point 10 in four iterations.
    let q = try #require(try model.featureMap.qTable(try model.theta(task: 0, step: 0)))
    #expect(q[0].isApproximatelyEqual(to: 10, relativeTolerance: 1e-4), "\(q)")
    #expect((model.log.last?.clippedShares.first ?? 0) == 1)
    try FileManager.default.removeItem(atPath: directory + "/model.h5")
    let multitask = try TrainFixtures.train(base + ["--no-single-task", "--no-clip-values"])
    #expect(multitask.status == 1, "\(multitask)")
    #expect(multitask.stderr.contains("Error: multitask fitted Q-iteration diverged at iteration"))
    #expect(multitask.stderr.contains("task a"))
    #expect(multitask.stderr.contains("4 restart(s) from the last good iterate"))
    #expect(multitask.stderr.contains("clip the bootstrapped values"))
    #expect(multitask.stderr.contains("Bellman residual over the last iterations"))
    let single = try TrainFixtures.train(base + ["--no-clip-values"])
    #expect(single.status == 1)
    #expect(single.stderr.contains("single-task fitted Q-iteration diverged at iteration"))
    #expect(!FileManager.default.fileExists(atPath: directory + "/model.h5"))
    let stronger = try TrainFixtures.train(base + ["--no-clip-values", "--ridge", "2"])
    #expect(stronger.status == 0, "\(stronger)")
  }

  @Test("Guardrail: a task with no transitions")
  func emptyTask() throws {
    let directory = try Self.scratch("empty")
    let store = directory + "/store.h5"
    let writer = try StoreWriter(destination: store)
    let format = TaskFormat(
      observation: ColumnFormat(type: .int64, rowShape: []),
      action: ColumnFormat(type: .int64, rowShape: []), hasBehaviorProbabilities: false)
    for name in ["empty", "full"] {
      let task = try writer.startTask(name, format: format)
      task.declaredObservationSpace = .discrete(n: 3, start: 0)
      task.declaredActionSpace = .discrete(n: 2, start: 0)
      guard name == "full" else { continue }
      task.beginSource(SourceRecord(path: "memory", format: "csv", sha256: ""))
      var batch = TransitionBatch(format: format)
      batch.observations.int64 = [0, 1, 2, 1]
      batch.nextObservations.int64 = [1, 2, 0, 0]
      batch.actions.int64 = [0, 1, 0, 1]
      batch.rewards = [1, 0, 1, 0]
      batch.terminations = [0, 0, 0, 0]
      batch.truncations = [1, 1, 1, 1]
      batch.episodes = [0, 1, 2, 3]
      batch.steps = [0, 0, 0, 0]
      try task.append(batch)
      try task.endSource()
    }
    try writer.commit()
    let run = try TrainFixtures.train([store, "-o", directory + "/model.h5", "--rank", "1"])
    #expect(run.status == 1, "\(run)")
    #expect(run.stderr.contains("task empty has no transitions"))
    let other = try TrainFixtures.train([
      store, "-o", directory + "/model.h5", "--rank", "1", "--tasks", "full", "--iterations", "2",
      "--ridge", "0.1",
    ])
    #expect(other.status == 0, "\(other)")
  }

  @Test("Guardrail: an action space that is not Discrete is refused with the reason")
  func boxActions() throws {
    let directory = try Self.scratch("box")
    var text = "task,episode,step,obs,act_0,reward,next_obs,terminated,truncated\n"
    for i in 0..<20 { text += "t,\(i),0,\(i % 3),\(Double(i) / 10),1,\((i + 1) % 3),0,1\n" }
    try text.write(toFile: directory + "/box.csv", atomically: true, encoding: .utf8)
    let store = directory + "/store.h5"
    _ = try Ingester.run(Fixtures.options([directory + "/box.csv"], output: store))
    let run = try TrainFixtures.train([store, "-o", directory + "/model.h5", "--rank", "1"])
    #expect(run.status == 1, "\(run)")
    #expect(run.stderr.contains("which is not Discrete"))
    #expect(run.stderr.contains("max over actions"))
  }

  @Test("Usage errors exit 64 with the key or flag named")
  func usageErrors() throws {
    let pipeline = try Self.small.get()
    let directory = try Self.scratch("usage")
    try #"{"rank": 2, "ridgee": 1}"#.write(
      toFile: directory + "/bad.json", atomically: true, encoding: .utf8)
    let unknownKey = try TrainFixtures.train([
      pipeline.store, "-o", directory + "/m.h5", "--config", directory + "/bad.json",
    ])
    #expect(unknownKey.status == 64)
    #expect(unknownKey.stderr.contains("unknown key 'ridgee'"))
    try #"{"rank": "two"}"#.write(
      toFile: directory + "/type.json", atomically: true, encoding: .utf8)
    let wrongType = try TrainFixtures.train([
      pipeline.store, "-o", directory + "/m.h5", "--config", directory + "/type.json",
    ])
    #expect(wrongType.status == 64)
    #expect(wrongType.stderr.contains("key 'rank'"))
    let features = try TrainFixtures.train([
      pipeline.store, "-o", directory + "/m.h5", "--features", "wavelets",
    ])
    #expect(features.status == 64 && features.stderr.contains("--features must be"))
    let horizon = try TrainFixtures.train([
      pipeline.store, "-o", directory + "/m.h5", "--mode", "finite-horizon",
    ])
    #expect(horizon.status == 64 && horizon.stderr.contains("--horizon"))
    let ridge = try TrainFixtures.train([
      pipeline.store, "-o", directory + "/m.h5", "--ridge", "nan",
    ])
    #expect(ridge.status == 64 && ridge.stderr.contains("ridge (--ridge) must be finite and >= 0"))
    let missing = try TrainFixtures.train([directory + "/none.h5", "-o", directory + "/m.h5"])
    #expect(missing.status == 1 && missing.stderr.contains("none.h5"))
  }
}
