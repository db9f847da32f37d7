import Foundation
import Numerics
import Testing

@testable import MTFQI

/// End-to-end: the built mtfqi-export, mtfqi-fit and mtfqi-evaluate on a trained model.
@Suite("Reuse: mtfqi-export and mtfqi-fit", .serialized)
struct ReuseCommandTests {
  @Test("--help explains with an example; --version prints the version; usage errors exit 64")
  func helpVersionUsage() throws {
    for (name, example) in [
      ("mtfqi-export", "mtfqi-export build/run/model.h5"),
      ("mtfqi-fit", "mtfqi-fit build/run/representation.h5"),
      ("mtfqi-evaluate", "mtfqi-evaluate build/run/model.h5"),
    ] {
      let help = try ReuseFixtures.run(name, ["--help"])
      #expect(help.status == 0)
      #expect(
        help.stdout.contains("Examples:") && help.stdout.contains(example),
        "\(name): \(help.stdout)")
      let version = try ReuseFixtures.run(name, ["--version"])
      #expect(version.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == MTFQIVersion.string)
    }
    let fit = try ReuseFixtures.run(
      "mtfqi-fit", ["r.h5", "s.h5", "-o", "h.h5", "--holdout", "1.5"])
    #expect(
      fit.status == 64 && fit.stderr.contains("Error: --holdout must be a fraction"), "\(fit)")
    let export = try ReuseFixtures.run("mtfqi-export", ["m.h5", "-o", "r.h5", "--task", "x"])
    #expect(
      export.status == 64 && export.stderr.contains("--task names a task of --store"), "\(export)")
    let evaluate = try ReuseFixtures.run("mtfqi-evaluate", [])
    #expect(evaluate.status == 64, "\(evaluate)")
    let missing = try ReuseFixtures.run(
      "mtfqi-export", ["/nonexistent/model.h5", "-o", "/tmp/x.h5"])
    #expect(missing.status == 1 && missing.stderr.hasPrefix("Error: "), "\(missing)")
  }

  @Test(
    "Export writes everything needed for phi-hat; export -> fit round trip; features equal what fit computes"
  )
  func roundTrip() throws {
    let pipeline = try ReuseFixtures.small.get()
    let model = try TrainedModel.read(pipeline.model)
    let representation = try ExportedRepresentation.read(pipeline.representation)
    #expect(representation.bases == model.representations)
    #expect(representation.featureMap.table == model.featureMap.table)
    #expect(representation.featureMap.spec == model.featureMap.spec)
    #expect(representation.parameters.objective == model.parameters.objective)
    #expect(representation.modelSHA256 == (try Fixtures.sha256(pipeline.model)))
    #expect(representation.taskNames == model.taskNames)
    // The training tasks' reward models travel with the representation (one per task).
    let basis = try #require(model.rewardBasis)
    #expect(representation.rewardBasis == basis && basis.thetas.count == model.taskNames.count)
    // Materialised features: phi-hat of the store's rows.
    let file = try HDF5File.open(pipeline.representation)
    let group = try file.group("/materialized/new00")
    let stored = try MaterializedFeatures.read(group)
    #expect(stored.rows == 60 && stored.actions == 3 && stored.rank == 2)
    let task = try TaskTransitions.load(store: pipeline.newStore, tasks: ["new00"])[0]
    let computed = try MaterializedFeatures.compute(
      task, map: model.featureMap, b: model.representations[0])
    #expect(stored.phi == computed.phi && stored.phiNext == computed.phiNext)
    #expect(stored.rewards == task.rewards && stored.terminations == task.terminations)

    let directory = try ReuseFixtures.scratch("roundtrip")
    let head = directory + "/head.h5"
    let run = try ReuseFixtures.run(
      "mtfqi-fit",
      [
        pipeline.representation, pipeline.newStore, "--task", "new00", "-o", head, "--scratch",
        "--truth", pipeline.truth, "--q-tables", directory + "/q",
      ])
    #expect(run.status == 0, "\(run)")
    // Nothing on stderr but the warning of an inconclusive frozen-vs-scratch call.
    let evidence = try HDF5File.open(head).group("/").stringAttribute("evidence")
    #expect(
      evidence == "inconclusive"
        ? run.stderr.hasPrefix("warning: the estimated values do not settle which greedy policy is better") && run.stderr.filter { $0 == "\n" }.count == 1
        : run.stderr.isEmpty, "\(evidence): \(run.stderr)")
    for fragment in ["task new00", "60 transitions", "frozen", "scratch", "oracle"] {
      #expect(run.stdout.contains(fragment), "summary lacks \(fragment): \(run.stdout)")
    }
    let fitted = try TrainedHead.read(head)
    #expect(fitted.task == "new00" && fitted.heads.count == 1 && fitted.heads[0].count == 2)
    #expect(fitted.representation.bases == model.representations)
    #expect(fitted.log.count == 40)  // the model's iterations are the default
    #expect(fitted.scratch?.vectors[0].count == 10 && fitted.oracle?.vectors[0].count == 2)
    // The features mtfqi-fit computed internally are those mtfqi-export wrote.
    #expect(fitted.featureSHA256 == (try group.stringAttribute("feature_sha256")))
    #expect(fitted.featureSHA256 == stored.digest)
    // The head is the frozen-head FQI on those features.
    // (With the head ridge the fit chose by estimated policy value, recorded in the file.)
    let runner = FrozenHeadFQI(
      objective: model.parameters.objective, headRidge: fitted.parameters.headRidge,
      divergenceFactor: model.parameters.divergenceFactor, stepData: .pooled, task: "new00")
    let problems = try runner.problems(task, rows: nil, featureMap: model.featureMap)
    #expect(try runner.fit(problems, bases: model.representations).heads == fitted.heads)
    // Q tables: frozen, scratch and oracle files, the frozen one equal to the head's Q.
    let text = try String(contentsOfFile: directory + "/q/new00.csv", encoding: .utf8)
    let lines = text.split(separator: "\n")
    #expect(lines.first == "state,action_0,action_1,action_2" && lines.count == 21)
    let q = try #require(try fitted.frozenQTable(step: 0))
    let row = lines[4].split(separator: ",").map { Double(String($0)) ?? .nan }
    for a in 0..<3 { #expect(row[a + 1] == q[3 * 3 + a]) }
    for suffix in ["-scratch", "-oracle"] {
      #expect(FileManager.default.fileExists(atPath: directory + "/q/new00\(suffix).csv"))
    }
  }

  @Test("The same inputs and seed give identical head files, timing aside")
  func deterministic() throws {
    let pipeline = try ReuseFixtures.small.get()
    let directory = try ReuseFixtures.scratch("determinism")
    var contents: [[String: String]] = []
    for name in ["a.h5", "b.h5"] {
      let run = try ReuseFixtures.run(
        "mtfqi-fit",
        [
          pipeline.representation, pipeline.newStore, "--task", "new01", "-o",
          directory + "/" + name,
          "--scratch", "--holdout", "0.25", "--seed", "3",
        ])
      #expect(run.status == 0, "\(run)")
      contents.append(try TrainFixtures.contents(directory + "/" + name))
    }
    let timing: Set<String> = ["/@seconds", "/head/log/seconds", "/scratch/log/seconds"]
    let keys = Set(contents[0].keys).union(contents[1].keys)
    #expect(keys.contains("/holdout/rows") && keys.contains("/head/w"))
    for key in keys.sorted() where !timing.contains(key) {
      #expect(contents[0][key] == contents[1][key], "\(key) differs")
    }
  }

  @Test(
    "A representation whose action space or feature map does not fit the store is refused clearly")
  func mismatchRefused() throws {
    let pipeline = try ReuseFixtures.small.get()
    let directory = try ReuseFixtures.scratch("mismatch")
    // Five actions instead of three.
    let log = directory + "/other.csv"
    try ReuseFixtures.writeLog(log, task: "other", rows: 50, states: 20, actions: 5)
    let wrongActions = directory + "/actions.h5"
    _ = try Ingester.run(
      Fixtures.options(
        [log], output: wrongActions, observationSpace: .discrete(n: 20, start: 0),
        actionSpace: .discrete(n: 5, start: 0)))
    let run = try ReuseFixtures.run(
      "mtfqi-fit", [pipeline.representation, wrongActions, "-o", directory + "/h.h5"])
    #expect(run.status == 1, "\(run)")
    #expect(run.stderr.contains("Error: "))
    #expect(
      run.stderr.contains(
        "the action space of task other of \(wrongActions) Discrete(5) reaches 4, above 2, the highest value of the representation's action space Discrete(3)"),
      "\(run.stderr)")
    #expect(!FileManager.default.fileExists(atPath: directory + "/h.h5"))
    // Thirty states: the feature table is for twenty.
    let log2 = directory + "/states.csv"
    try ReuseFixtures.writeLog(log2, task: "other", rows: 50, states: 30, actions: 3)
    let wrongStates = directory + "/states.h5"
    _ = try Ingester.run(
      Fixtures.options(
        [log2], output: wrongStates, observationSpace: .discrete(n: 30, start: 0),
        actionSpace: .discrete(n: 3, start: 0)))
    let states = try ReuseFixtures.run(
      "mtfqi-fit", [pipeline.representation, wrongStates, "-o", directory + "/h.h5"])
    #expect(states.status == 1)
    #expect(
      states.stderr.contains(
        "the feature map does not fit the store: the observation space of task other of \(wrongStates) Discrete(30) reaches 29, above 19, the highest value of the representation's observation space (table features) Discrete(20)"),
      "\(states.stderr)")
    // The same check guards mtfqi-export --store.
    let export = try ReuseFixtures.run(
      "mtfqi-export", [pipeline.model, "--store", wrongStates, "-o", directory + "/r.h5"])
    #expect(export.status == 1 && export.stderr.contains("of task other of \(wrongStates) Discrete(30) reaches 29"), "\(export)")
    // Box observations against a table feature map.
    var parameters = TrainFixtures.parameters(
      tasks: 1, samples: 40, states: 20, actions: 3, rank: 2, dim: 10)
    parameters.seed = 2
    let box = try TrainFixtures.boxStore(parameters, in: directory)
    let boxRun = try ReuseFixtures.run(
      "mtfqi-fit", [pipeline.representation, box, "-o", directory + "/h.h5"])
    #expect(boxRun.status == 1 && boxRun.stderr.contains("Box(shape=(3,)"), "\(boxRun)")
    // A store with several tasks needs --task; a model is not a representation.
    let several = try ReuseFixtures.run(
      "mtfqi-fit", [pipeline.representation, pipeline.newStore, "-o", directory + "/h.h5"])
    #expect(several.status == 64 && several.stderr.contains("choose one with --task"), "\(several)")
    let notRepresentation = try ReuseFixtures.run(
      "mtfqi-fit",
      [pipeline.model, pipeline.newStore, "--task", "new00", "-o", directory + "/h.h5"])
    #expect(
      notRepresentation.status == 1
        && notRepresentation.stderr.contains("not an mtfqi representation"), "\(notRepresentation)")
  }

  @Test(
    "Every call says what it rests on (head.h5, --json, stdout); an inconclusive one warns on stderr, naming the informative episodes"
  )
  func evidence() throws {
    let pipeline = try ReuseFixtures.small.get()
    let directory = try ReuseFixtures.scratch("evidence")
    // Twelve episodes of six steps; reward 1 on one row of each of the first `paying`
    // episodes, 0 everywhere else; no terminal state.
    func store(paying: Int) throws -> String {
      var text = "task,episode,step,obs,action,reward,next_obs,terminated,truncated\n"
      for episode in 0..<12 {
        for step in 0..<6 {
          let state = (episode * 7 + step * 3) % 20
          let next = (state + 1 + episode % 3) % 20
          let reward = episode < paying && step == 2 ? 1.0 : 0.0
          text +=
            "sparse,\(episode),\(step),\(state),\((episode + step) % 3),\(reward),\(next),0,\(step == 5 ? 1 : 0)\n"
        }
      }
      return try Fixtures.ingestCSV(
        text, directory: directory, name: "sparse\(paying)", states: 20, actions: 3)
    }
    let bases = [
      "reward_span": "inconclusive",
      "no_significant_difference": "inconclusive", "value_estimates": "significant",
      "placebo": "significant", "features_vanish": "forced", "frozen_failed": "forced",
      "scratch_failed": "forced",
    ]
    var inconclusive: [Int] = []
    for paying in [0, 2, 8] {
      let head = directory + "/head\(paying).h5"
      let run = try ReuseFixtures.run(
        "mtfqi-fit", [pipeline.representation, try store(paying: paying), "-o", head, "--json"])
      #expect(run.status == 0, "\(run)")
      let json = try #require(
        try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
      let comparison = try #require(json["comparison"] as? [String: Any])
      let basis = try #require(comparison["basis"] as? String)
      let evidence = try #require(comparison["evidence"] as? String)
      #expect(bases[basis] == evidence, "\(basis) \(evidence)")
      #expect(
        comparison["informative_episodes"] as? Int == paying && comparison["episodes"] as? Int == 12)
      let root = try HDF5File.open(head).group("/")
      #expect(try root.stringAttribute("evidence") == evidence)
      #expect(try root.stringAttribute("recommendation_basis") == basis)
      #expect(try root.integerAttribute("informative_episodes", in: 0...1000) == paying)
      #expect(try root.integerAttribute("episodes", in: 0...1000) == 12)
      if evidence == "inconclusive" {
        inconclusive.append(paying)
        #expect(
          run.stderr.hasPrefix(
            "warning: the estimated values do not settle which greedy policy is better (frozen - scratch = ")
            && run.stderr.contains("(\(paying) of its 12 episodes show a reward other than the most common one"),
          "\(run.stderr)")
      } else {
        #expect(run.stderr.isEmpty, "\(run.stderr)")
      }
    }
    // No reward at all: nothing can separate the policies (with rewards on 2 or 8 episodes of
    // 12, outside the training rewards' span, the value estimates do).
    #expect(inconclusive.contains(0), "\(inconclusive)")
    let text = try ReuseFixtures.run(
      "mtfqi-fit", [pipeline.representation, directory + "/sparse0.h5", "-o", directory + "/t.h5"])
    #expect(text.stdout.contains("  evidence: inconclusive, decided by "), "\(text.stdout)")
    #expect(text.stderr.hasPrefix("warning: "), "\(text.stderr)")
  }

  @Test(
    "tools/reuse_example.py fits the same head as mtfqi-fit (1e-6 relative)",
    .enabled(if: TrainFixtures.pythonAvailable, "needs python3 with h5py and numpy (make test installs them)"))
  func pythonExample() throws {
    let pipeline = try ReuseFixtures.small.get()
    let directory = try ReuseFixtures.scratch("python")
    for task in ["new00", "new01"] {
      let head = directory + "/\(task).h5"
      let fit = try ReuseFixtures.run(
        "mtfqi-fit", [pipeline.representation, pipeline.newStore, "--task", task, "-o", head])
      #expect(fit.status == 0, "\(fit)")
      let run = try Executables.runTool([
        Executables.python, TrainFixtures.toolsDirectory + "/reuse_example.py", pipeline.representation,
        "--task", task,
        "--head", head,
      ])
      #expect(run.status == 0, "\(run)")
      #expect(run.stdout.contains("OK: agrees with mtfqi-fit to 1e-06"), "\(run)")
    }
  }
}
