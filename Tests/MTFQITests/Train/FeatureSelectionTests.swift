import Foundation
import Numerics
import Testing

@testable import MTFQI

/// `--fourier-features auto` and `--bandwidth auto` (Train/FeatureSelection.swift).
@Suite("Train: Fourier feature-map selection", .serialized)
struct FeatureSelectionTests {
  /// A Box(3) store of a small family (T = 4, n = 500, S = 20, A = 3), made once for the suite.
  struct Pipeline: Sendable {
    var directory: String
    var store: String
  }

  static let small: Result<Pipeline, any Error> = Result {
    let directory = FileManager.default.temporaryDirectory
      .appendingPathComponent("mtfqi-feature-selection-\(getpid())-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let parameters = TrainFixtures.parameters(
      tasks: 4, samples: 500, states: 20, actions: 3, rank: 2, dim: 10, seed: 5)
    return Pipeline(
      directory: directory, store: try TrainFixtures.boxStore(parameters, in: directory))
  }

  static func scratch(_ label: String) throws -> String {
    let path = try small.get().directory + "/\(label)-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  @Test("Parsing: auto or a number from flags and config; explicit values win; bad values are refused")
  func parsing() throws {
    var config = TrainConfig()
    config.features.kind = .fourier
    #expect(config.features.fourierFeaturesAuto && config.features.bandwidthAuto)
    #expect(FeatureSelection.applies(config))
    try config.setFourierFeatures("32")
    try config.setBandwidth("0.5")
    #expect(!config.features.fourierFeaturesAuto && config.features.fourierFeatures == 32)
    #expect(!config.features.bandwidthAuto && config.features.bandwidth == 0.5)
    #expect(!FeatureSelection.applies(config))
    try config.setBandwidth("auto")
    #expect(config.features.bandwidthAuto && FeatureSelection.applies(config))
    for bad in ["0", "-1", "x", ""] {
      expectError(FQIError.self, case: "invalidSetting") { try config.setFourierFeatures(bad) }
    }
    for bad in ["0", "-0.5", "inf", "nan", "wide"] {
      expectError(FQIError.self, case: "invalidSetting") { try config.setBandwidth(bad) }
    }
    // Finite horizon never selects.
    config.mode = .finiteHorizon
    #expect(!FeatureSelection.applies(config))

    func decode(_ text: String) throws -> TrainConfig {
      try JSONDecoder().decode(TrainConfig.self, from: Data(text.utf8))
    }
    let absent = try decode(#"{"features": {"kind": "fourier"}}"#)
    #expect(absent.features.fourierFeaturesAuto && absent.features.bandwidthAuto)
    let mixed = try decode(
      #"{"features": {"kind": "fourier", "fourier_features": 16, "bandwidth": "auto"}}"#)
    #expect(!mixed.features.fourierFeaturesAuto && mixed.features.fourierFeatures == 16)
    #expect(mixed.features.bandwidthAuto)
    #expect(throws: (any Error).self) {
      try decode(#"{"features": {"kind": "fourier", "bandwidth": "wide"}}"#)
    }
    // The resolved JSON says auto for Fourier settings left open, numbers otherwise.
    #expect(mixed.resolvedJSON().contains(#""bandwidth":"auto""#))
    #expect(mixed.resolvedJSON().contains(#""fourier_features":16"#))
    let oneHot = TrainConfig()
    #expect(oneHot.resolvedJSON().contains(#""bandwidth":1"#))
    #expect(try decode(mixed.resolvedJSON()).features == mixed.features)
    // Specs read from a model are explicit.
    let fromModel = try JSONDecoder().decode(
      FeatureMapSpec.self,
      from: Data(FeatureMap.specJSON(FeatureMapSpec(kind: .fourier, fourierFeatures: 8)).utf8))
    #expect(!fromModel.fourierFeaturesAuto && !fromModel.bandwidthAuto)
  }

  @Test("The command refuses bad values with exit 64 and documents auto in --help")
  func commandLine() throws {
    let pipeline = try Self.small.get()
    let bad = try TrainFixtures.train([
      pipeline.store, "-o", pipeline.directory + "/bad.h5", "--features", "fourier",
      "--bandwidth", "wide",
    ])
    #expect(bad.status == 64 && bad.stderr.contains("--bandwidth must be a positive number or auto"), "\(bad)")
    let badCount = try TrainFixtures.train([
      pipeline.store, "-o", pipeline.directory + "/bad.h5", "--features", "fourier",
      "--fourier-features", "0",
    ])
    #expect(badCount.status == 64 && badCount.stderr.contains("--fourier-features"), "\(badCount)")
    let help = try TrainFixtures.train(["--help"])
    #expect(help.stdout.contains("--bandwidth auto"))
  }

  @Test("Candidates: the grid over the axes left on auto, in table order")
  func candidateGrid() {
    var spec = FeatureMapSpec.trainingDefault
    spec.kind = .fourier
    let all = FeatureSelection.candidates(spec)
    #expect(all.count == FeatureSelection.featureCounts.count * FeatureSelection.bandwidths.count)
    #expect(all.allSatisfy { !$0.fourierFeaturesAuto && !$0.bandwidthAuto })
    #expect(all.first?.fourierFeatures == 32 && all.first?.bandwidth == 0.25)
    spec.fourierFeaturesAuto = false
    spec.fourierFeatures = 12
    let widths = FeatureSelection.candidates(spec)
    #expect(widths.map(\.bandwidth) == FeatureSelection.bandwidths)
    #expect(widths.allSatisfy { $0.fourierFeatures == 12 })
  }

  @Test(
    "The common-feature estimate equals LSTD-Q on the candidate's own features when the evaluation map is the candidate's map"
  )
  func commonValueAgreesWithOwnFeatures() throws {
    let pipeline = try Self.small.get()
    let tasks = try TaskTransitions.load(store: pipeline.store, tasks: nil)
    let map = try FeatureSelection.buildMap(
      FeatureMapSpec(kind: .fourier, fourierFeatures: 6, bandwidth: 0.7), tasks: tasks, seed: 2)
    let rows = tasks.map { task in ModelSelection.split(task, seed: 2, index: 0).heldOut }
    let held = try FeatureSelection.heldOut(tasks, rows: rows, map: map, discount: 0.9)
    var generator = Xoshiro256StarStar(seed: 9, stream: "tests/theta")
    for t in tasks.indices {
      let theta = (0..<map.dimension).map { _ in generator.nextNormal() }
      let range = -10.0...10.0
      let common = try FeatureSelection.commonValue(
        theta, own: held.data[t], ownStarts: held.starts[t], judge: held.data[t],
        judgeStarts: held.starts[t], range: range)
      let evaluator = LSTDQEvaluation(
        data: held.data[t], starts: held.starts[t],
        ridge: FeatureSelection.evaluationRidge * held.data[t].gram.meanDiagonal, range: range)
      let own = try evaluator.value(of: theta)
      #expect(common.value.isApproximatelyEqual(to: own.value, relativeTolerance: 1e-9), "\(common) vs \(own.value)")
      // So is the range excess, here well above 0 (random theta, a narrow range).
      let narrow = -0.01...0.01
      let commonNarrow = try FeatureSelection.commonValue(
        theta, own: held.data[t], ownStarts: held.starts[t], judge: held.data[t],
        judgeStarts: held.starts[t], range: narrow)
      let ownNarrow = LSTDQEvaluation(
        data: held.data[t], starts: held.starts[t], ridge: evaluator.ridge, range: narrow)
      let expected = try ownNarrow.rangeExcess(try ownNarrow.value(of: theta).theta)
      #expect(expected > 0 && commonNarrow.excess.isApproximatelyEqual(to: expected, relativeTolerance: 1e-9), "\(commonNarrow.excess) vs \(expected)")
    }
  }

  @Test("In-process selection: rung 0 has every candidate, rung 1 the survivors, one chosen; deterministic")
  func selectionTable() throws {
    let pipeline = try Self.small.get()
    let tasks = try TaskTransitions.load(store: pipeline.store, tasks: nil)
    var config = TrainConfig()
    config.features.kind = .fourier
    config.features.fourierFeaturesAuto = false
    config.features.fourierFeatures = 8
    config.iterations = 10
    config.rankAuto = false
    config.rank = 2
    let first = try FeatureSelection.select(tasks, config: config, progress: nil)
    let second = try FeatureSelection.select(tasks, config: config, progress: nil)
    // JSON, because NaN (rung-0 improvements) is never equal to itself.
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    #expect(try encoder.encode(first.table) == encoder.encode(second.table))
    #expect(first.spec == second.spec)
    let count = FeatureSelection.bandwidths.count
    let rungOne = first.table.dropFirst(count)
    #expect(first.table.prefix(count).allSatisfy { $0.rung == 0 && $0.iterations == 5 })
    #expect(rungOne.allSatisfy { $0.rung == 1 && $0.iterations == 10 })
    #expect(rungOne.count >= FeatureSelection.survivors && rungOne.count <= FeatureSelection.survivors + 1)
    // The default map (bandwidth 1 here, m as given) is always fitted on rung 1.
    let incumbent = try #require(rungOne.first { $0.bandwidth == 1 })
    #expect(first.table.filter(\.chosen).count == 1)
    let chosen = try #require(first.table.first { $0.chosen })
    #expect(chosen.rung == 1 && chosen.rank == 2)
    #expect(first.spec.bandwidth == chosen.bandwidth && first.spec.fourierFeatures == 8)
    #expect(!first.spec.bandwidthAuto && !first.spec.fourierFeaturesAuto)
    // A challenger wins only by more than `margin` standard errors over the default.
    if chosen != incumbent {
      #expect(chosen.improvement > FeatureSelection.margin * chosen.improvementStandardError)
      #expect(chosen.improvement > 0)
    }
    for row in rungOne
    where row.bandwidth != incumbent.bandwidth && row.score.isFinite && incumbent.score.isFinite
    {
      #expect(row.improvement.isFinite)
      #expect(abs(row.improvement - (row.score - incumbent.score)) <= 1e-9 * max(1, abs(row.score)))
    }
  }

  @Test("The decision keeps the default unless a candidate is better by more than the margin")
  func decision() {
    func row(_ score: Double) -> FeatureCandidate {
      var c = FeatureCandidate(
        fourierFeatures: 64, bandwidth: 1, rung: 1, rows: 10, iterations: 10, rank: 2, ridge: 1)
      c.score = score
      return c
    }
    // Challenger 1: +1 on average but noisy (differences +3, -1); challenger 2: +0.5 steadily.
    var table = [row(-10), row(-9), row(-9.5)]
    let entries = [
      (row: 0, index: 5, perTask: [-10.0, -10.0]), (row: 1, index: 2, perTask: [-7.0, -11.0]),
      (row: 2, index: 7, perTask: [-9.5, -9.5]),
    ]
    let picked = FeatureSelection.decide(entries, incumbent: 5, table: &table)
    #expect(picked?.index == 7)
    #expect(table[1].improvement == 1 && table[1].improvementStandardError == 2)
    var noisy = [row(-10), row(-9)]
    let kept = FeatureSelection.decide(Array(entries.prefix(2)), incumbent: 5, table: &noisy)
    #expect(kept?.index == 5)
    // The steady challenger with an estimate far outside the value range does not replace it.
    var unreliable = [row(-10), row(-9), row(-9.5)]
    unreliable[2].valueRangeExcess = 3
    #expect(FeatureSelection.decide(entries, incumbent: 5, table: &unreliable)?.index == 5)
    unreliable[2].valueRangeExcess = 0.2
    #expect(FeatureSelection.decide(entries, incumbent: 5, table: &unreliable)?.index == 7)
  }

  @Test(
    "mtfqi-train with auto: the table in model.h5 and on stdout, the chosen map in /features, the same model for the same seed, and export/fit reading the chosen map"
  )
  func endToEnd() throws {
    let pipeline = try Self.small.get()
    let directory = try Self.scratch("auto")
    var contents: [[String: String]] = []
    var stdout = ""
    for name in ["a.h5", "b.h5"] {
      let run = try TrainFixtures.train([
        pipeline.store, "-o", directory + "/" + name, "--features", "fourier",
        "--fourier-features", "auto", "--bandwidth", "1", "--rank", "2", "--ridge", "1e-3",
        "--iterations", "5",
        "--seed", "4", "--no-single-task",
      ])
      #expect(run.status == 0, "\(run)")
      stdout = run.stdout
      contents.append(try TrainFixtures.contents(directory + "/" + name))
    }
    #expect(stdout.contains("feature selection ("), "\(stdout)")
    let timing: Set<String> = [
      "/@seconds", "/feature_selection@seconds", "/training_log/seconds",
      "/training_log/target_seconds",
    ]
    let keys = Set(contents[0].keys).union(contents[1].keys)
    #expect(keys.contains("/feature_selection/score") && keys.contains("/feature_selection/chosen"))
    for key in keys.sorted() where !timing.contains(key) {
      #expect(contents[0][key] == contents[1][key], "\(key) differs")
    }
    // The chosen row is the map in /features.
    let file = try HDF5File.open(directory + "/a.h5")
    let table = try file.root().group("feature_selection")
    let chosen = try table.dataset("chosen").read(as: Int64.self)
    let counts = try table.dataset("fourier_features").read(as: Int64.self)
    let widths = try table.dataset("bandwidth").read(as: Double.self)
    #expect(chosen.filter { $0 == 1 }.count == 1)
    let row = try #require(chosen.firstIndex(of: 1))
    let model = try TrainedModel.read(directory + "/a.h5")
    #expect(model.featureMap.spec.fourierFeatures == Int(counts[row]))
    #expect(model.featureMap.spec.bandwidth == widths[row])
    #expect(model.featureMap.blockSize == Int(counts[row]))
    // Export and fit rebuild the chosen map.
    let representation = directory + "/representation.h5"
    let export = try Executables.run(
      "mtfqi-export", [directory + "/a.h5", "-o", representation, "--quiet"])
    #expect(export.status == 0, "\(export)")
    let exported = try FeatureMap.read(from: try HDF5File.open(representation).root().group("features"))
    #expect(exported.spec == model.featureMap.spec)
    #expect(exported.fourierWeights == model.featureMap.fourierWeights)
    let task = model.taskNames[0]
    let fit = try Executables.run(
      "mtfqi-fit",
      [representation, pipeline.store, "--task", task, "-o", directory + "/head.h5", "--quiet",
       "--iterations", "5"])
    #expect(fit.status == 0, "\(fit)")
    // An explicit value wins: no selection, no table.
    let fixed = try TrainFixtures.train([
      pipeline.store, "-o", directory + "/fixed.h5", "--features", "fourier",
      "--fourier-features", "8", "--bandwidth", "0.5", "--rank", "2", "--ridge", "1e-3",
      "--iterations", "3", "--no-single-task",
    ])
    #expect(fixed.status == 0 && !fixed.stdout.contains("feature selection"), "\(fixed)")
    let fixedModel = try TrainedModel.read(directory + "/fixed.h5")
    #expect(fixedModel.featureMap.spec.bandwidth == 0.5 && fixedModel.featureMap.blockSize == 8)
    #expect(try !HDF5File.open(directory + "/fixed.h5").root().contains("feature_selection"))
  }
}
