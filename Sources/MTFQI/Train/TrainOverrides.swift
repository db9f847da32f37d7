/// The settings given as `mtfqi-train` flags: every one nil (or false) when the flag is absent,
/// so that the config file's value, or the default, stays. `TrainConfig.resolve` merges them:
/// a flag over the config file over the defaults, field by field.
public struct TrainOverrides: Sendable, Equatable {
  // Base features.
  public var features: FeatureMapSpec.Kind?
  /// Also selects `--features table` when neither `--features` nor a config file is given.
  public var featureTable: String?
  /// A fixed m or bandwidth; `...Auto` true: `auto` was given (chosen by `FeatureSelection`).
  public var fourierFeatures: Int?
  public var bandwidth: Double?
  public var fourierFeaturesAuto = false
  public var bandwidthAuto = false
  public var normalize: Bool?
  // The objective.
  public var mode: TrainConfig.Mode?
  public var gamma: Double?
  public var iterations: Int?
  public var horizon: Int?
  public var stepData: TrainConfig.StepData?
  public var representation: TrainConfig.Representation?
  // The fit.
  public var rank: AutoSetting<Int>?
  public var ridge: AutoSetting<Double>?
  public var headRidge: AutoSetting<Double>?
  public var ridgeForm: AutoSetting<FQIParameters.RidgeForm>?
  public var alsTolerance: Double?
  public var alsMaxSweeps: Int?
  public var clipValues: Bool?
  public var singleTask: Bool?
  // Inputs and reproducibility.
  public var truth: String?
  public var tasks: [String]?
  public var seed: UInt64?
  /// A switch: true turns `allow_unidentifiable` on, false leaves the config's value.
  public var allowUnidentifiable = false

  public init() {}

  /// `--fourier-features`: a positive integer, or "auto".
  public mutating func setFourierFeatures(_ text: String) throws(FQIError) {
    if text == "auto" {
      fourierFeaturesAuto = true
      fourierFeatures = nil
    } else if let value = Int(text), value >= 1 {
      fourierFeatures = value
      fourierFeaturesAuto = false
    } else {
      throw .invalidSetting("--fourier-features must be a positive integer or auto; found '\(text)'")
    }
  }

  /// `--bandwidth`: a positive number, or "auto".
  public mutating func setBandwidth(_ text: String) throws(FQIError) {
    if text == "auto" {
      bandwidthAuto = true
      bandwidth = nil
    } else if let value = Double(text), value > 0, value.isFinite {
      bandwidth = value
      bandwidthAuto = false
    } else {
      throw .invalidSetting("--bandwidth must be a positive number or auto; found '\(text)'")
    }
  }
}

extension TrainConfig {
  /// The settings of a run: the defaults, then the config file at `configFile` (when given),
  /// then `overrides`; validated. Throws `.invalidSetting` naming the file and key, or the
  /// setting and its flag.
  public static func resolve(configFile: String?, overrides: TrainOverrides) throws(FQIError)
    -> TrainConfig
  {
    var config = TrainConfig()
    if let configFile { config = try TrainConfig.load(path: configFile) }
    config.apply(overrides, configFileGiven: configFile != nil)
    try config.validate()
    return config
  }

  /// Overwrites every setting `overrides` gives. `configFileGiven` decides what a lone
  /// `--feature-table` means: `--features table` without a config file, only the table's path
  /// with one (the config's kind stays).
  public mutating func apply(_ overrides: TrainOverrides, configFileGiven: Bool) {
    applyFeatures(overrides, configFileGiven: configFileGiven)
    if let mode = overrides.mode { self.mode = mode }
    if let gamma = overrides.gamma { self.gamma = gamma }
    if let iterations = overrides.iterations { self.iterations = iterations }
    if let horizon = overrides.horizon { self.horizon = horizon }
    if let stepData = overrides.stepData { self.stepData = stepData }
    if let representation = overrides.representation { self.representation = representation }
    applyRidgesAndRank(overrides)
    if let alsTolerance = overrides.alsTolerance { self.alsTolerance = alsTolerance }
    if let alsMaxSweeps = overrides.alsMaxSweeps { self.alsMaxSweeps = alsMaxSweeps }
    if let clipValues = overrides.clipValues { self.clipValues = clipValues }
    if let singleTask = overrides.singleTask { self.singleTask = singleTask }
    if let truth = overrides.truth { self.truth = truth }
    if let tasks = overrides.tasks { self.tasks = tasks }
    if let seed = overrides.seed { self.seed = seed }
    if overrides.allowUnidentifiable { allowUnidentifiable = true }
  }

  /// `--fourier-features` alone (a positive integer, or "auto"), as `TrainOverrides` parses it.
  public mutating func setFourierFeatures(_ text: String) throws(FQIError) {
    var flags = TrainOverrides()
    try flags.setFourierFeatures(text)
    applyFeatures(flags, configFileGiven: true)
  }

  /// `--bandwidth` alone (a positive number, or "auto"), as `TrainOverrides` parses it.
  public mutating func setBandwidth(_ text: String) throws(FQIError) {
    var flags = TrainOverrides()
    try flags.setBandwidth(text)
    applyFeatures(flags, configFileGiven: true)
  }

  private mutating func applyFeatures(_ overrides: TrainOverrides, configFileGiven: Bool) {
    if let kind = overrides.features { features.kind = kind }
    if let table = overrides.featureTable {
      features.table = table
      if overrides.features == nil && !configFileGiven { features.kind = .table }
    }
    if let fourierFeatures = overrides.fourierFeatures {
      features.fourierFeatures = fourierFeatures
      features.fourierFeaturesAuto = false
    }
    if overrides.fourierFeaturesAuto { features.fourierFeaturesAuto = true }
    if let bandwidth = overrides.bandwidth {
      features.bandwidth = bandwidth
      features.bandwidthAuto = false
    }
    if overrides.bandwidthAuto { features.bandwidthAuto = true }
    if let normalize = overrides.normalize { features.normalize = normalize }
  }

  /// `auto` turns the automatic choice on; a number fixes the setting and turns it off. `auto`
  /// for the head ridge also forgets a head ridge the config file gave.
  private mutating func applyRidgesAndRank(_ overrides: TrainOverrides) {
    Self.merge(overrides.rank, into: &rank, auto: &rankAuto)
    Self.merge(overrides.ridge, into: &ridge, auto: &ridgeAuto)
    Self.merge(overrides.ridgeForm, into: &ridgeForm, auto: &ridgeFormAuto)
    if let headRidgeSetting = overrides.headRidge {
      headRidge = headRidgeSetting.fixedValue
      headRidgeAuto = headRidgeSetting == .auto
    }
  }

  private static func merge<Value>(
    _ setting: AutoSetting<Value>?, into value: inout Value, auto: inout Bool
  ) {
    guard let setting else { return }
    if let fixed = setting.fixedValue { value = fixed }
    auto = setting == .auto
  }
}
