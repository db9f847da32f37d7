import Foundation
import Numerics
import Testing

@testable import MTFQI

@Suite("Synthetic: generated files")
struct SyntheticGeneratorTests {
  @Test("The same seed gives byte-identical files; another seed does not")
  func deterministic() throws {
    var p = SyntheticFixtures.small(objective: .finiteHorizon(horizon: 3), sampling: .episodes)
    p.samples = 2000
    let first = try SyntheticFixtures.temporaryDirectory("same-a")
    let second = try SyntheticFixtures.temporaryDirectory("same-b")
    let third = try SyntheticFixtures.temporaryDirectory("other")
    defer {
      for directory in [first, second, third] {
        try? FileManager.default.removeItem(atPath: directory)
      }
    }
    _ = try SyntheticGenerator.generate(p, into: first, formats: [.csv, .jsonl])
    _ = try SyntheticGenerator.generate(p, into: second, formats: [.csv, .jsonl])
    let files = try SyntheticFixtures.files(under: first)
    #expect(
      files == [
        "features.h5", "new/new00.csv", "new/new00.jsonl", "new/new01.csv", "new/new01.jsonl",
        "train/task00.csv", "train/task00.jsonl", "train/task01.csv", "train/task01.jsonl",
        "train/task02.csv", "train/task02.jsonl", "truth.h5",
      ])
    #expect(try SyntheticFixtures.files(under: second) == files)
    for file in files {
      #expect(
        try SyntheticFixtures.bytes(first + "/" + file)
          == SyntheticFixtures.bytes(second + "/" + file),
        "\(file) differs between two runs with the same seed")
    }
    var other = p
    other.seed = 43
    _ = try SyntheticGenerator.generate(other, into: third, formats: [.csv])
    #expect(
      try SyntheticFixtures.bytes(first + "/train/task00.csv")
        != SyntheticFixtures.bytes(third + "/train/task00.csv"))
  }

  @Test("Changing T changes neither the held-out logs nor their truth")
  func heldOutIndependentOfT() throws {
    var few = SyntheticFixtures.small()
    few.tasks = 2
    var many = few
    many.tasks = 6
    let a = try SyntheticFixtures.temporaryDirectory("t2")
    let b = try SyntheticFixtures.temporaryDirectory("t6")
    defer {
      try? FileManager.default.removeItem(atPath: a)
      try? FileManager.default.removeItem(atPath: b)
    }
    _ = try SyntheticGenerator.generate(few, into: a)
    _ = try SyntheticGenerator.generate(many, into: b)
    for file in [
      "new/new00.csv", "new/new01.csv", "train/task00.csv", "train/task01.csv", "features.h5",
    ] {
      #expect(
        try SyntheticFixtures.bytes(a + "/" + file) == SyntheticFixtures.bytes(b + "/" + file),
        "\(file)")
    }
    let truthA = try HDF5File.open(a + "/truth.h5")
    let truthB = try HDF5File.open(b + "/truth.h5")
    for path in ["/new/theta", "/new/q_star", "/new/v_star", "/new/rewards", "/new/mu", "/model/P"]
    {
      #expect(
        try truthA.dataset(path).read(as: Double.self)
          == truthB.dataset(path).read(as: Double.self),
        "\(path)")
    }
    #expect(try truthA.dataset("/train/theta").shape == [2, 3])
    #expect(try truthB.dataset("/train/theta").shape == [6, 3])
  }

  @Test("truth.h5 and features.h5 hold the documented layout and values")
  func truthLayout() throws {
    var p = SyntheticFixtures.small(objective: .finiteHorizon(horizon: 3), sampling: .episodes)
    p.samples = 100
    let directory = try SyntheticFixtures.temporaryDirectory("layout")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let summary = try SyntheticGenerator.generate(p, into: directory)
    let family = summary.family
    #expect(summary.files.count == 7)
    #expect(summary.report.contains("truth.h5"))

    let truth = try HDF5File.open(directory + "/truth.h5")
    let root = try truth.root()
    #expect(try root.stringAttribute("format") == "mtfqi.synthetic-truth")
    #expect(try root.stringAttribute("mode") == "finite_horizon")
    #expect(try root.stringAttribute("sampling") == "episodes")
    #expect(try root.scalarAttribute("horizon", as: Int64.self) == 3)
    #expect(try root.scalarAttribute("episode_length", as: Int64.self) == 3)
    #expect(try root.scalarAttribute("seed", as: UInt64.self) == 42)
    #expect(try root.scalarAttribute("epsilon", as: Double.self) == p.epsilon)
    #expect(try root.stringAttribute("parameters").contains("\"n_states\":12"))
    let expectedShapes: [String: [Int]] = [
      "/model/P": [12, 3, 12], "/model/phi_star": [12, 3, 3], "/model/nu": [3, 12],
      "/model/b_star": [8, 3], "/model/U": [8, 8], "/model/z": [12, 3, 5], "/model/x": [12, 3, 8],
      "/behavior/policy": [12, 3], "/behavior/favorite_action": [12], "/behavior/start": [12],
      "/behavior/occupancy": [3, 12, 3], "/train/theta": [3, 3], "/train/rewards": [3, 12, 3],
      "/train/q_star": [3, 3, 12, 3], "/train/v_star": [3, 3, 12], "/train/mu": [12, 3],
      "/new/theta": [2, 3], "/new/q_star": [2, 3, 12, 3], "/new/mu": [12, 3],
    ]
    for (path, shape) in expectedShapes {
      #expect(try truth.dataset(path).shape == shape, "\(path)")
    }
    #expect(try truth.dataset("/model/P").read(as: Double.self) == family.transition)
    #expect(
      try truth.dataset("/new/q_star").read(as: Double.self) == family.heldOutTasks.flatMap(\.qStar)
    )
    #expect(
      try truth.group("/train").stringAttribute("task_names")
        == "[\"task00\",\"task01\",\"task02\"]")

    let features = try HDF5File.open(directory + "/features.h5")
    let table = try features.dataset("/features")
    #expect(table.shape == [12, 3, 8])
    #expect(try table.stringAttribute("kind") == "table")
    #expect(try table.scalarAttribute("n_states", as: Int64.self) == 12)
    #expect(try table.scalarAttribute("n_actions", as: Int64.self) == 3)
    #expect(try table.read(as: Double.self) == family.features)

    // The log on disk is the sampler's output.
    let csv = String(
      decoding: try SyntheticFixtures.bytes(directory + "/train/task01.csv"), as: UTF8.self)
    let rows = TransitionSampler.sample(
      family: family, tables: SyntheticSamplingTables(family: family),
      task: family.trainingTasks[1],
      count: 100)
    let lines = csv.split(separator: "\n")
    #expect(lines.count == 101)
    #expect(
      lines.last.map(String.init)
        == {
          let r = rows[99]
          return
            "task01,\(r.episode),\(r.step),\(r.state),\(r.action),\(r.reward),\(r.nextState),\(r.terminated ? 1 : 0),\(r.truncated ? 1 : 0),\(r.behaviorProbability)"
        }())
  }

  @Test("Invalid parameters are rejected with a message that names the flag")
  func invalidParameters() {
    let cases: [(String, (inout SyntheticParameters) -> Void)] = [
      (
        "--rank",
        {
          $0.rank = 50
          $0.dim = 40
        }
      ),
      ("--epsilon", { $0.epsilon = 1.5 }),
      ("--epsilon", { $0.epsilon = -0.1 }),
      ("--epsilon", { $0.epsilon = .nan }),
      ("--states", { $0.states = 0 }),
      ("--actions", { $0.actions = 0 }),
      ("--gamma", { $0.objective = .discounted(gamma: 1) }),
      ("--gamma", { $0.objective = .discounted(gamma: -0.5) }),
      ("--horizon", { $0.objective = .finiteHorizon(horizon: 0) }),
      ("--samples", { $0.samples = 0 }),
      ("--new-samples", { $0.newSamples = 0 }),
      ("--tasks", { $0.tasks = 0 }),
      ("--new-tasks", { $0.newTasks = -1 }),
      ("--noise", { $0.noise = -1 }),
      ("--rank", { $0.rank = 0 }),
      ("--episode-length", { $0.episodeLength = 0 }),
      (
        "--episode-length",
        {
          $0.objective = .finiteHorizon(horizon: 5)
          $0.episodeLength = 4
        }
      ),
      ("--phi-concentration", { $0.featureConcentration = 0 }),
      ("--states", { $0.states = 100_000 }),
    ]
    for (flag, mutate) in cases {
      var p = SyntheticParameters()
      mutate(&p)
      expectError(SyntheticError.self, case: "invalidParameter", "\(flag)") { try p.validate() }
      do {
        try p.validate()
      } catch {
        #expect(error.description.contains(flag), "\(error.description)")
      }
    }
    #expect(throws: Never.self) { try SyntheticParameters().validate() }
  }
}
