import Foundation
import Testing

@testable import MTFQI

/// `TrainConfig.resolve` / `apply`: a flag over the config file over the defaults, field by
/// field (what `mtfqi-train` did in its main.swift before).
@Suite("Train config: flags over config over defaults")
struct TrainConfigMergeTests {
  /// A config file that sets every key to something other than the default.
  static let configText = """
    {
      "features": {"kind": "raw", "normalize": false, "fourier_features": 16, "bandwidth": 2},
      "mode": "discounted", "gamma": 0.8, "iterations": 30,
      "step_data": "per_step", "representation": "per_step",
      "rank": 3, "ridge": 0.01, "head_ridge": 0.02, "ridge_form": "theta",
      "als_tolerance": 1e-5, "als_max_sweeps": 50, "outer_tolerance": 1e-4, "divergence_factor": 20,
      "clip_values": false, "single_task": false, "truth": "config-truth.h5",
      "tasks": ["a", "b"], "seed": 7, "allow_unidentifiable": false
    }
    """

  static func writeConfig(in directory: Fixtures.TemporaryDirectory) throws -> String {
    let path = directory.file("train.json")
    try configText.write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  /// One flag: how it is set and what it changes in the config it overrides.
  struct FlagCase: Sendable, CustomTestStringConvertible {
    let flag: String
    let set: @Sendable (inout TrainOverrides) -> Void
    let expect: @Sendable (inout TrainConfig) -> Void
    var testDescription: String { flag }
  }

  static let flagCases: [FlagCase] = [
    FlagCase(flag: "--features", set: { $0.features = .fourier }, expect: { $0.features.kind = .fourier }),
    FlagCase(
      flag: "--feature-table", set: { $0.featureTable = "flag-table.h5" },
      expect: { $0.features.table = "flag-table.h5" }),
    FlagCase(
      flag: "--fourier-features", set: { $0.fourierFeatures = 32 }, expect: {
        $0.features.fourierFeatures = 32
        $0.features.fourierFeaturesAuto = false  // a number fixes the axis: no selection
      }),
    FlagCase(
      flag: "--bandwidth", set: { $0.bandwidth = 0.5 },
      expect: {
        $0.features.bandwidth = 0.5
        $0.features.bandwidthAuto = false
      }),
    FlagCase(flag: "--normalize", set: { $0.normalize = true }, expect: { $0.features.normalize = true }),
    FlagCase(flag: "--mode", set: { $0.mode = .finiteHorizon }, expect: { $0.mode = .finiteHorizon }),
    FlagCase(flag: "--gamma", set: { $0.gamma = 0.95 }, expect: { $0.gamma = 0.95 }),
    FlagCase(flag: "--iterations", set: { $0.iterations = 12 }, expect: { $0.iterations = 12 }),
    FlagCase(flag: "--horizon", set: { $0.horizon = 5 }, expect: { $0.horizon = 5 }),
    FlagCase(flag: "--step-data", set: { $0.stepData = .pooled }, expect: { $0.stepData = .pooled }),
    FlagCase(
      flag: "--representation", set: { $0.representation = .shared }, expect: { $0.representation = .shared }),
    FlagCase(
      flag: "--rank 2", set: { $0.rank = .fixed(2) },
      expect: {
        $0.rank = 2
        $0.rankAuto = false
      }),
    FlagCase(flag: "--rank auto", set: { $0.rank = .auto }, expect: { $0.rankAuto = true }),
    FlagCase(
      flag: "--ridge 1e-3", set: { $0.ridge = .fixed(1e-3) },
      expect: {
        $0.ridge = 1e-3
        $0.ridgeAuto = false
      }),
    FlagCase(flag: "--ridge auto", set: { $0.ridge = .auto }, expect: { $0.ridgeAuto = true }),
    FlagCase(
      flag: "--head-ridge 0.5", set: { $0.headRidge = .fixed(0.5) },
      expect: {
        $0.headRidge = 0.5
        $0.headRidgeAuto = false
      }),
    FlagCase(
      flag: "--head-ridge auto", set: { $0.headRidge = .auto },
      expect: {
        $0.headRidge = nil
        $0.headRidgeAuto = true
      }),
    FlagCase(
      flag: "--ridge-form factors", set: { $0.ridgeForm = .fixed(.factors) },
      expect: {
        $0.ridgeForm = .factors
        $0.ridgeFormAuto = false
      }),
    FlagCase(flag: "--ridge-form auto", set: { $0.ridgeForm = .auto }, expect: { $0.ridgeFormAuto = true }),
    FlagCase(flag: "--als-tolerance", set: { $0.alsTolerance = 1e-7 }, expect: { $0.alsTolerance = 1e-7 }),
    FlagCase(flag: "--als-max-sweeps", set: { $0.alsMaxSweeps = 9 }, expect: { $0.alsMaxSweeps = 9 }),
    FlagCase(flag: "--clip-values", set: { $0.clipValues = true }, expect: { $0.clipValues = true }),
    FlagCase(flag: "--single-task", set: { $0.singleTask = true }, expect: { $0.singleTask = true }),
    FlagCase(flag: "--truth", set: { $0.truth = "flag-truth.h5" }, expect: { $0.truth = "flag-truth.h5" }),
    FlagCase(flag: "--tasks", set: { $0.tasks = ["c"] }, expect: { $0.tasks = ["c"] }),
    FlagCase(flag: "--seed", set: { $0.seed = 11 }, expect: { $0.seed = 11 }),
    FlagCase(
      flag: "--allow-unidentifiable", set: { $0.allowUnidentifiable = true },
      expect: { $0.allowUnidentifiable = true }),
  ]

  /// Each flag alone over the config file changes its own field and no other.
  @Test(arguments: flagCases)
  func eachFlagOverridesItsConfigKey(_ flagCase: FlagCase) throws {
    let directory = try Fixtures.TemporaryDirectory("train-merge")
    let fromFile = try TrainConfig.load(path: try Self.writeConfig(in: directory))
    var overrides = TrainOverrides()
    flagCase.set(&overrides)
    var merged = fromFile
    merged.apply(overrides, configFileGiven: true)
    var expected = fromFile
    flagCase.expect(&expected)
    #expect(merged == expected)
    #expect(merged != fromFile, "the case must change something the config file set")
  }

  /// Each flag alone without a config file changes its own field of the defaults, and no other
  /// (a lone --feature-table also selects table features).
  @Test(arguments: flagCases)
  func eachFlagOverridesTheDefault(_ flagCase: FlagCase) {
    var overrides = TrainOverrides()
    flagCase.set(&overrides)
    var merged = TrainConfig()
    merged.apply(overrides, configFileGiven: false)
    var expected = TrainConfig()
    flagCase.expect(&expected)
    if overrides.featureTable != nil { expected.features.kind = .table }
    #expect(merged == expected)
  }

  @Test func noFlagsKeepTheConfigFileAndNoFileKeepsTheDefaults() throws {
    let directory = try Fixtures.TemporaryDirectory("train-merge")
    let path = try Self.writeConfig(in: directory)
    #expect(try TrainConfig.resolve(configFile: nil, overrides: TrainOverrides()) == TrainConfig())
    let fromFile = try TrainConfig.resolve(configFile: path, overrides: TrainOverrides())
    #expect(fromFile == (try TrainConfig.load(path: path)))
    // The file's values, not the defaults.
    #expect(fromFile.features.kind == .raw && !fromFile.features.normalize)
    #expect(fromFile.features.fourierFeatures == 16 && fromFile.features.bandwidth == 2)
    #expect(fromFile.gamma == 0.8 && fromFile.iterations == 30)
    #expect(fromFile.stepData == .perStep && fromFile.representation == .perStep)
    #expect(fromFile.rank == 3 && !fromFile.rankAuto && fromFile.ridge == 0.01 && !fromFile.ridgeAuto)
    #expect(fromFile.headRidge == 0.02 && !fromFile.headRidgeAuto)
    #expect(fromFile.alsTolerance == 1e-5 && fromFile.alsMaxSweeps == 50)
    #expect(fromFile.outerTolerance == 1e-4 && fromFile.divergenceFactor == 20)
    #expect(!fromFile.clipValues && !fromFile.singleTask && fromFile.truth == "config-truth.h5")
    #expect(fromFile.tasks == ["a", "b"] && fromFile.seed == 7)
  }

  /// Every flag at once over the config file: the flags win everywhere, the keys without a flag
  /// (outer_tolerance, divergence_factor) keep the file's values; the result is validated.
  @Test func allFlagsOverTheConfigFile() throws {
    let directory = try Fixtures.TemporaryDirectory("train-merge")
    let path = try Self.writeConfig(in: directory)
    var flags = TrainOverrides()
    flags.features = .fourier
    flags.fourierFeatures = 24
    flags.bandwidth = 3
    flags.normalize = true
    flags.mode = .finiteHorizon
    flags.gamma = 1
    flags.iterations = 4
    flags.horizon = 6
    flags.stepData = .pooled
    flags.representation = .shared
    flags.rank = .fixed(2)
    flags.ridge = .auto
    flags.headRidge = .auto
    flags.alsTolerance = 1e-8
    flags.alsMaxSweeps = 7
    flags.clipValues = true
    flags.singleTask = true
    flags.truth = "flag-truth.h5"
    flags.tasks = ["x", "y", "z"]
    flags.seed = 99
    flags.allowUnidentifiable = true
    let merged = try TrainConfig.resolve(configFile: path, overrides: flags)
    #expect(merged.features == FeatureMapSpec(kind: .fourier, fourierFeatures: 24, bandwidth: 3, normalize: true))
    #expect(merged.mode == .finiteHorizon && merged.gamma == 1 && merged.iterations == 4 && merged.horizon == 6)
    #expect(merged.stepData == .pooled && merged.representation == .shared)
    #expect(merged.rank == 2 && !merged.rankAuto && merged.ridgeAuto && merged.ridge == 0.01)
    #expect(merged.headRidgeAuto && merged.headRidge == nil)
    #expect(merged.alsTolerance == 1e-8 && merged.alsMaxSweeps == 7)
    #expect(merged.outerTolerance == 1e-4 && merged.divergenceFactor == 20)
    #expect(merged.clipValues && merged.singleTask && merged.truth == "flag-truth.h5")
    #expect(merged.tasks == ["x", "y", "z"] && merged.seed == 99 && merged.allowUnidentifiable)
  }

  /// A lone --feature-table means table features without a config file; with one, the file's
  /// kind stays (only the path changes); --features always wins.
  @Test func featureTableSelectsTableFeaturesOnlyWithoutAConfigFile() throws {
    var tableOnly = TrainOverrides()
    tableOnly.featureTable = "t.h5"
    var noFile = TrainConfig()
    noFile.apply(tableOnly, configFileGiven: false)
    #expect(noFile.features.kind == .table && noFile.features.table == "t.h5")
    let directory = try Fixtures.TemporaryDirectory("train-merge")
    var withFile = try TrainConfig.load(path: try Self.writeConfig(in: directory))
    withFile.apply(tableOnly, configFileGiven: true)
    #expect(withFile.features.kind == .raw && withFile.features.table == "t.h5")
    var both = tableOnly
    both.features = .oneHot
    var explicit = TrainConfig()
    explicit.apply(both, configFileGiven: false)
    #expect(explicit.features.kind == .oneHot)
  }

  /// The merged settings are validated, and the message names the setting and its flag; a bad
  /// config file is named.
  @Test func resolveValidatesTheMergedSettings() throws {
    var finiteWithoutHorizon = TrainOverrides()
    finiteWithoutHorizon.mode = .finiteHorizon
    #expect {
      try TrainConfig.resolve(configFile: nil, overrides: finiteWithoutHorizon)
    } throws: { error in
      guard case FQIError.invalidSetting(let message) = error else { return false }
      return message.contains("--horizon")
    }
    var zeroRank = TrainOverrides()
    zeroRank.rank = .fixed(0)
    #expect {
      try TrainConfig.resolve(configFile: nil, overrides: zeroRank)
    } throws: { error in
      guard case FQIError.invalidSetting(let message) = error else { return false }
      return message.contains("rank (--rank) must be at least 1")
    }
    let directory = try Fixtures.TemporaryDirectory("train-merge")
    let bad = directory.file("bad.json")
    try "{\"rank\": 2, \"typo\": 1}".write(toFile: bad, atomically: true, encoding: .utf8)
    #expect {
      try TrainConfig.resolve(configFile: bad, overrides: TrainOverrides())
    } throws: { error in
      guard case FQIError.invalidSetting(let message) = error else { return false }
      return message.hasPrefix(bad) && message.contains("unknown key 'typo'")
    }
  }

  @Test func autoSettingReadsAutoOrAValue() {
    #expect(AutoSetting<Int>("auto") == .auto)
    #expect(AutoSetting<Int>("3") == .fixed(3))
    #expect(AutoSetting<Int>("3.5") == nil)
    #expect(AutoSetting<Double>("1e-3") == .fixed(1e-3))
    #expect(AutoSetting<Double>("Auto") == nil)
    #expect(AutoSetting<Double>.fixed(2).fixedValue == 2 && AutoSetting<Double>.auto.fixedValue == nil)
  }
}
