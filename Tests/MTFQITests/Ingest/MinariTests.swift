import Foundation
import Testing

@testable import MTFQI

/// What a Minari fixture holds, read straight from its HDF5 file: episode by episode in id
/// order, transition t = (obs[t], action[t], reward[t], obs[t+1], terminated[t], truncated[t]).
private struct MinariContents {
  var observations: [Double] = []
  var nextObservations: [Double] = []
  var actions: [Double] = []
  var rewards: [Double] = []
  var terminations: [Double] = []
  var truncations: [Double] = []
  var episodes: [Double] = []
  var steps: [Double] = []
  var observationType: HDF5ElementType?
  var actionType: HDF5ElementType?
  var rewardType: HDF5ElementType?
  var episodeCount = 0
  var terminatedEpisodes = 0
  var truncatedEpisodes = 0

  init(dataFile: String) throws {
    let file = try HDF5File.open(dataFile)
    let root = try file.root()
    let names = try root.memberNames().filter { $0.hasPrefix("episode_") }
      .sorted { Int($0.dropFirst(8))! < Int($1.dropFirst(8))! }
    episodeCount = names.count
    for name in names {
      let id = Double(Int(name.dropFirst(8))!)
      let group = try root.group(name)
      let obs = try group.dataset("observations")
      let width = obs.rowElements
      let steps = obs.rows - 1
      let allObs = try Fixtures.values(obs)
      observations += allObs[0..<(steps * width)]
      nextObservations += allObs[width...]
      actions += try Fixtures.values(group.dataset("actions"))
      let rewardSet = try group.dataset("rewards")
      rewards += try Fixtures.values(rewardSet)
      let term = try Fixtures.values(group.dataset("terminations"))
      let trunc = try Fixtures.values(group.dataset("truncations"))
      terminations += term
      truncations += trunc
      if term.contains(1) { terminatedEpisodes += 1 }
      if trunc.contains(1) { truncatedEpisodes += 1 }
      episodes += Array(repeating: id, count: steps)
      self.steps += (0..<steps).map(Double.init)
      observationType = obs.elementType
      actionType = try group.dataset("actions").elementType
      rewardType = rewardSet.elementType
    }
  }
}

/// The spaces a fixture declares: metadata.json (Minari 0.5) or the root attributes (older).
private func declaredSpaces(_ fixture: (folder: String, data: String, metadata: String)) throws -> (
  observation: Space, action: Space, datasetID: String
) {
  if FileManager.default.fileExists(atPath: fixture.metadata) {
    let text = try String(contentsOfFile: fixture.metadata, encoding: .utf8)
    let object = try #require(
      try JSONSerialization.jsonObject(with: Data(Space.quotingNonFiniteNumbers(text).utf8))
        as? [String: Any])
    return (
      try Space.parse(try #require(object["observation_space"] as? String), context: "test"),
      try Space.parse(try #require(object["action_space"] as? String), context: "test"),
      try #require(object["dataset_id"] as? String)
    )
  }
  let root = try HDF5File.open(fixture.data).root()
  return (
    try Space.parse(try root.stringAttribute("observation_space"), context: "test"),
    try Space.parse(try root.stringAttribute("action_space"), context: "test"),
    try root.stringAttribute("dataset_id")
  )
}

/// Spaces agree when their kind, n/start or shape and dtype agree and their bounds agree as
/// float32 (the store writes float32 Box bounds in their shortest float32 form).
private func sameSpace(_ a: Space, _ b: Space) -> Bool {
  switch (a, b) {
  case (.discrete, .discrete): return a == b
  case (.box(let s1, let t1, let l1, let h1), .box(let s2, let t2, let l2, let h2)):
    func f(_ v: [Double]?) -> [Float]? { v?.map(Float.init) }
    return s1 == s2 && t1 == t2 && f(l1) == f(l2) && f(h1) == f(h2)
  default: return false
  }
}

@Suite("Ingest: Minari datasets")
struct MinariTests {
  static let readable = [
    "frozenlake-discrete", "cartpole-box", "cliffwalking-int-rewards", "pendulum-box-actions",
    "cartpole-old-layout",
  ]

  @Test("ingesting a real Minari dataset stores exactly the arrays it holds", arguments: readable)
  func exactArrays(name: String) throws {
    let fixture = Fixtures.minari(name)
    let expected = try MinariContents(dataFile: fixture.data)
    let spaces = try declaredSpaces(fixture)
    let temp = try Fixtures.TemporaryDirectory()
    let output = temp.file("store.h5")

    let summary = try Ingester.run(Fixtures.options([fixture.folder], output: output))

    let task = HDF5Source.taskName(from: spaces.datasetID, fallback: "minari")
    #expect(!task.contains("/"))
    let store = try StoreReader(path: output)
    #expect(store.taskNames == [task])
    let info = try store.info(task)
    #expect(info.transitions == expected.rewards.count)
    #expect(info.episodes == expected.episodeCount)
    #expect(summary.rowsStored == expected.rewards.count)
    // Spaces come from the dataset and are marked declared.
    #expect(
      sameSpace(info.observationSpace, spaces.observation),
      "\(info.observationSpace) vs \(spaces.observation)")
    #expect(sameSpace(info.actionSpace, spaces.action), "\(info.actionSpace) vs \(spaces.action)")
    #expect(info.observationSpaceDeclared && info.actionSpaceDeclared)
    // Types as stored in the source: float stays float32; Discrete is int64.
    #expect(
      info.observationType
        == (expected.observationType!.isFloatingPoint ? expected.observationType! : .int64))
    #expect(
      info.actionType == (expected.actionType!.isFloatingPoint ? expected.actionType! : .int64))
    #expect(info.rewardSourceDtype == expected.rewardType?.name)
    // Provenance.
    let source = try #require(info.sources.first)
    #expect(info.sources.count == 1)
    #expect(source.format == "minari")
    #expect(source.path == fixture.folder)
    #expect(source.sha256 == (try Fixtures.sha256(fixture.data)))
    #expect(source.rowsRead == expected.rewards.count)
    #expect(source.rowsStored == expected.rewards.count)
    #expect(source.rowsRejected == 0)
    #expect(source.episodeIdOffset == 0)
    #expect(source.timeoutRowsDropped == 0 && source.terminalRowsWithoutNextObservation == 0)
    #expect(source.nextObservationMismatches == 0)
    #expect(source.rewardSourceDtype == expected.rewardType?.name)

    try compareColumns(store, task: task, expected)
  }

  private func compareColumns(_ store: StoreReader, task: String, _ expected: MinariContents) throws
  {
    func column(_ name: String) throws -> [Double] {
      try Fixtures.values(store.dataset(task: task, column: name))
    }
    #expect(try column(StoreLayout.observations) == expected.observations)
    #expect(try column(StoreLayout.nextObservations) == expected.nextObservations)
    #expect(try column(StoreLayout.actions) == expected.actions)
    #expect(try column(StoreLayout.rewards) == expected.rewards)
    #expect(try column(StoreLayout.terminations) == expected.terminations)
    #expect(try column(StoreLayout.truncations) == expected.truncations)
    #expect(try column(StoreLayout.episode) == expected.episodes)
    #expect(try column(StoreLayout.step) == expected.steps)
    #expect(try store.dataset(task: task, column: StoreLayout.rewards).elementType == .float64)
  }

  @Test("an episode longer than one block streams in blocks; batches span episodes")
  func blocks() throws {
    // Written with mtfqi's HDF5 layer in the Minari 0.5 layout: episodes of 100, 70,000 and 5
    // steps, so blocks of context.batchRows (65,536) rows split the long episode and the first
    // block spans two episodes.
    let temp = try Fixtures.TemporaryDirectory()
    let folder = temp.file("long")
    try FileManager.default.createDirectory(
      atPath: folder + "/data", withIntermediateDirectories: true)
    let metadata =
      #"{"total_episodes": 3, "total_steps": 70105, "data_format": "hdf5", "dataset_id": "long/set-v0", "#
      + #""observation_space": "{\"type\": \"Box\", \"dtype\": \"float32\", \"shape\": [3], \"low\": [-Infinity, -Infinity, -Infinity], \"high\": [Infinity, Infinity, Infinity]}", "#
      + #""action_space": "{\"type\": \"Discrete\", \"dtype\": \"int64\", \"start\": 0, \"n\": 4}"}"#
    try metadata.write(toFile: folder + "/data/metadata.json", atomically: true, encoding: .utf8)
    do {
      let file = try HDF5File.create(folder + "/data/main_data.hdf5")
      let root = try file.root()
      var base = 0
      for (id, steps) in [100, 70_000, 5].enumerated() {
        let group = try root.createGroup("episode_\(id)")
        let observations = (0..<((steps + 1) * 3)).map { Float(base * 3 + $0) * 0.5 }
        try group.writeDataset("observations", observations, shape: [steps + 1, 3])
        try group.writeDataset("actions", (0..<steps).map { Int64(($0 + id) % 4) }, shape: [steps])
        try group.writeDataset("rewards", (0..<steps).map { Int64($0 % 7) - 3 }, shape: [steps])
        var terminations = [UInt8](repeating: 0, count: steps)
        var truncations = [UInt8](repeating: 0, count: steps)
        if id == 1 { truncations[steps - 1] = 1 } else { terminations[steps - 1] = 1 }
        try group.writeDataset("terminations", terminations, shape: [steps])
        try group.writeDataset("truncations", truncations, shape: [steps])
        base += steps + 1
      }
    }
    let output = temp.file("store.h5")
    _ = try Ingester.run(Fixtures.options([folder], output: output))
    let store = try StoreReader(path: output)
    #expect(store.taskNames == ["long_set-v0"])
    let expected = try MinariContents(dataFile: folder + "/data/main_data.hdf5")
    #expect(expected.rewards.count == 70_105)
    try compareColumns(store, task: "long_set-v0", expected)
    let source = try #require(try store.info("long_set-v0").sources.first)
    #expect(source.rowsRead == 70_105 && source.rowsStored == 70_105)
    #expect(source.rewardSourceDtype == "int64")
  }

  @Test("the fixtures cover termination and truncation, int64 and float64 rewards")
  func fixtureCoverage() throws {
    for name in [
      "frozenlake-discrete", "cartpole-box", "cliffwalking-int-rewards", "cartpole-old-layout",
    ] {
      let contents = try MinariContents(dataFile: Fixtures.minari(name).data)
      #expect(contents.terminatedEpisodes > 0, "\(name) has no terminated episode")
      #expect(contents.truncatedEpisodes > 0, "\(name) has no truncated episode")
    }
    #expect(
      try MinariContents(dataFile: Fixtures.minari("cliffwalking-int-rewards").data).rewardType
        == .int64)
    #expect(
      try MinariContents(dataFile: Fixtures.minari("cartpole-box").data).rewardType == .float64)
    #expect(
      try MinariContents(dataFile: Fixtures.minari("pendulum-box-actions").data).actionType
        == .float32)
    // The older layout has no metadata.json: its metadata is in the root attributes.
    let old = Fixtures.minari("cartpole-old-layout")
    #expect(!FileManager.default.fileExists(atPath: old.metadata))
    #expect(try HDF5File.open(old.data).root().hasAttribute("observation_space"))
  }

  @Test("int64 rewards are stored as exact float64 with the source dtype recorded")
  func integerRewards() throws {
    let fixture = Fixtures.minari("cliffwalking-int-rewards")
    let temp = try Fixtures.TemporaryDirectory()
    let output = temp.file("store.h5")
    _ = try Ingester.run(Fixtures.options([fixture.folder], output: output, task: "cliff"))
    let store = try StoreReader(path: output)
    let rewards = try store.read(task: "cliff", column: StoreLayout.rewards, as: Double.self)
    var source: [Int64] = []
    let root = try HDF5File.open(fixture.data).root()
    for id in 0..<4 {
      source += try root.group("episode_\(id)").dataset("rewards").read(as: Int64.self)
    }
    #expect(rewards == source.map(Double.init))
    #expect(Set(rewards).isSubset(of: [-1, -100]))
    #expect(try store.info("cliff").rewardSourceDtype == "int64")
    let group = try HDF5File.open(output).group("/tasks/cliff")
    #expect(try group.stringAttribute("reward_source_dtype") == "int64")
  }

  @Test("the dataset's data folder is accepted as the input too")
  func dataFolderInput() throws {
    let fixture = Fixtures.minari("cartpole-box")
    let temp = try Fixtures.TemporaryDirectory()
    let output = temp.file("store.h5")
    _ = try Ingester.run(Fixtures.options([fixture.folder + "/data"], output: output, task: "cart"))
    #expect(
      try StoreReader(path: output).info("cart").transitions
        == MinariContents(dataFile: fixture.data).rewards.count)
  }

  @Test("a Dict observation space is refused, naming the space type and the file")
  func dictSpaceRefused() throws {
    let fixture = Fixtures.minari("dict-observations")
    let temp = try Fixtures.TemporaryDirectory()
    let output = temp.file("store.h5")
    let message = Fixtures.failure(Fixtures.options([fixture.folder], output: output))
    #expect(message.contains("Dict"), "\(message)")
    #expect(message.contains(fixture.metadata), "\(message)")
    #expect(message.contains("observation_space"), "\(message)")
    #expect(!FileManager.default.fileExists(atPath: output))
    #expect(try FileManager.default.contentsOfDirectory(atPath: temp.path).isEmpty)
  }

  @Test("JPEG-encoded image observations are refused")
  func jpegRefused() throws {
    let fixture = Fixtures.minari("image-jpeg")
    let temp = try Fixtures.TemporaryDirectory()
    let message = Fixtures.failure(
      Fixtures.options([fixture.folder], output: temp.file("store.h5")))
    #expect(message.contains("JPEG"), "\(message)")
    #expect(message.contains("Box(shape=(32, 32, 3), uint8)"), "\(message)")
    #expect(message.contains(fixture.metadata), "\(message)")
  }

  @Test("an episode whose rewards are one row short is an error naming the HDF5 path and lengths")
  func inconsistentLengths() throws {
    let fixture = Fixtures.minari("broken-lengths")
    let temp = try Fixtures.TemporaryDirectory()
    let message = Fixtures.failure(
      Fixtures.options([fixture.folder], output: temp.file("store.h5")))
    #expect(message.contains(fixture.data), "\(message)")
    #expect(message.contains("/episode_1/rewards"), "\(message)")
    #expect(message.contains("expected 16 rows"), "\(message)")
    #expect(message.contains("found 15"), "\(message)")
  }

  @Test("an int64 reward beyond 2^53 is an error naming the row; --skip-invalid rejects that row")
  func rewardBeyondExactRange() throws {
    let fixture = Fixtures.minari("int-reward-overflow")
    let temp = try Fixtures.TemporaryDirectory()
    let message = Fixtures.failure(
      Fixtures.options([fixture.folder], output: temp.file("store.h5")))
    #expect(message.contains("/episode_2/rewards row 3"), "\(message)")
    #expect(message.contains("9007199254740993"), "\(message)")
    #expect(message.contains("field 'rewards'"), "\(message)")

    let output = temp.file("skipped.h5")
    let summary = try Ingester.run(
      Fixtures.options([fixture.folder], output: output, task: "t", skipInvalid: true))
    #expect(summary.rowsRejected == 1)
    let info = try StoreReader(path: output).info("t")
    #expect(info.sources.first?.rowsRejected == 1)
    #expect(info.sources.first?.rowsRead == 58)
    #expect(info.transitions == 57)
    let report = try String(contentsOfFile: try #require(summary.rejectionReport), encoding: .utf8)
    #expect(report.contains("row 3 of /episode_2/rewards"), "\(report)")
  }

  @Test("--task overrides the dataset id; a conflicting --observation-space is an error")
  func flags() throws {
    let fixture = Fixtures.minari("cartpole-box")
    let temp = try Fixtures.TemporaryDirectory()
    let output = temp.file("store.h5")
    _ = try Ingester.run(
      Fixtures.options(
        [fixture.folder], output: output, task: "balance",
        observationSpace: .box(shape: [4], dtype: .float64, low: nil, high: nil)))
    let info = try StoreReader(path: output).info("balance")
    // A compatible flag is accepted; the dataset's full space is what the store declares.
    #expect(info.observationSpace.description == "Box(shape=(4,), float32)")
    #expect(info.observationSpaceDeclared)

    let message = Fixtures.failure(
      Fixtures.options(
        [fixture.folder], output: temp.file("other.h5"), observationSpace: .discrete(n: 5, start: 0)
      ))
    #expect(message.contains("--observation-space"), "\(message)")
    #expect(message.contains("Discrete(5)"), "\(message)")
    #expect(message.contains("conflicts"), "\(message)")
  }

  @Test("dataset ids become valid task names")
  func taskNames() {
    #expect(
      HDF5Source.taskName(from: "mtfqi/cartpole/random-v0", fallback: "x")
        == "mtfqi_cartpole_random-v0")
    #expect(HDF5Source.taskName(from: "..hidden set", fallback: "x") == "hidden_set")
    #expect(HDF5Source.taskName(from: "", fallback: "minari") == "minari")
    #expect(
      StoreLayout.isValidTaskName(HDF5Source.taskName(from: "D4RL/door/human-v2 é", fallback: "x")))
  }

  @Test("a folder that is not a Minari dataset is refused")
  func notADataset() throws {
    let temp = try Fixtures.TemporaryDirectory()
    var options = Fixtures.options([temp.path], output: temp.file("store.h5"))
    options.format = .minari
    let message = Fixtures.failure(options)
    #expect(message.contains("not a Minari dataset folder"), "\(message)")
  }

  @Test("two Minari datasets of one task: ids of the second are renumbered after the first")
  func twoSourcesOneTask() throws {
    let fixture = Fixtures.minari("cliffwalking-int-rewards")
    let temp = try Fixtures.TemporaryDirectory()
    let output = temp.file("store.h5")
    _ = try Ingester.run(
      Fixtures.options([fixture.folder, fixture.folder], output: output, task: "cliff"))
    let info = try StoreReader(path: output).info("cliff")
    #expect(info.sources.map(\.episodeIdOffset) == [0, 4])
    #expect(info.episodes == 8)
  }
}
