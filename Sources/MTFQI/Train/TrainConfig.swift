import Foundation

/// Everything `mtfqi-train` can be told, from a JSON config file (schemas/train-config.schema.json)
/// with command-line flags overriding it. Keys are snake_case; unknown keys are refused so a
/// typo never silently falls back to a default.
///
/// Ridge convention (MEAN): the fitted objective is
/// `sum_t (1/n_t) ||y_t - Psi_t B w_t||^2 + ridge ||B||_F^2 + head_ridge sum_t ||w_t||^2`:
/// each task's squared Bellman error is averaged over its own n_t transitions, tasks are
/// summed, and the ridges are absolute (they do not grow with n). The single-task baseline
/// uses `ridge` on its D-dimensional theta_t; the oracle uses `head_ridge` on its heads.
public struct TrainConfig: Sendable, Equatable, Codable {
  public enum Mode: String, Sendable, Codable, CaseIterable {
    case discounted
    case finiteHorizon = "finite_horizon"
  }

  /// Finite horizon: which rows each step is fitted on.
  public enum StepData: String, Sendable, Codable, CaseIterable {
    /// Every step on all of a task's transitions (time-homogeneous dynamics).
    case pooled
    /// Step h only on the rows whose `step` column is h.
    case perStep = "per_step"
  }

  /// Finite horizon: one B for all steps or one per step.
  public enum Representation: String, Sendable, Codable, CaseIterable {
    case shared
    case perStep = "per_step"
  }

  /// The base features; with `fourier`, m and the bandwidth default to auto
  /// (`FeatureSelection`, discounted mode; finite horizon: 64 and 1).
  public var features = FeatureMapSpec.trainingDefault
  public var mode = Mode.discounted
  /// The discount; nil means 0.9 (discounted) or 1 (finite horizon).
  public var gamma: Double?
  /// Discounted: the number K of FQI iterations. Finite horizon with a shared B: the most
  /// outer rounds.
  public var iterations = 100
  /// H (finite horizon only).
  public var horizon: Int?
  public var stepData = StepData.pooled
  public var representation = Representation.shared
  /// k (used when `rankAuto` is false).
  public var rank = 4
  /// The ridge on B and of the single-task baseline (mean convention, above; used when
  /// `ridgeAuto` is false).
  public var ridge = 1e-6
  /// The ridge on the heads; nil means `ridge`.
  public var headRidge: Double?
  /// Where the multitask ridge sits: on B and the heads (`factors`) or on every task's theta_t
  /// = B w_t (`theta`, the single-task ridge); see `FQIParameters.RidgeForm`. Used when
  /// `ridgeFormAuto` is false.
  public var ridgeForm = FQIParameters.RidgeForm.factors
  /// "auto" (the default; discounted mode): chosen by the estimated value of each candidate's
  /// greedy policy on held-out episodes (`ModelSelection`). Finite horizon: auto means rank
  /// min(4, T, D) and ridge 1e-4 times the mean Gram diagonal.
  public var rankAuto = true
  public var ridgeAuto = true
  public var headRidgeAuto = true
  /// "auto" (the default): `factors`, and the model selection's fallback when no estimate is
  /// reliable is `theta` (`ModelSelection.fallback`).
  public var ridgeFormAuto = true
  /// ALS stops at a certified stationary point: the gradient of the objective relative to its
  /// data part at most this, and the objective's relative change over the last sweep at most
  /// this (both recorded per iteration in the training log).
  public var alsTolerance = 1e-6
  public var alsMaxSweeps = 100
  public var outerTolerance = 1e-6
  public var divergenceFactor = 10.0
  /// Clip bootstrapped values to the range the rewards allow (see `FQIParameters.valueRange`).
  public var clipValues = true
  /// Also train the single-task baseline.
  public var singleTask = true
  /// A truth file (schemas/truth.md): adds the oracle run on B*^T x and errors against Q*.
  public var truth: String?
  /// The tasks to train on (nil: every task of the store).
  public var tasks: [String]?
  /// The seed of every random choice (the random Fourier features).
  public var seed: UInt64 = 0
  /// Train even with fewer tasks than the rank (B is then not identifiable; the spectral
  /// start is completed deterministically, see `RankKSolver.spectralInitialisation`).
  public var allowUnidentifiable = false

  public init() {}

  enum CodingKeys: String, CodingKey, CaseIterable {
    case features, mode, gamma, iterations, horizon, rank, ridge, truth, tasks, seed
    case stepData = "step_data"
    case representation
    case headRidge = "head_ridge"
    case ridgeForm = "ridge_form"
    case alsTolerance = "als_tolerance"
    case alsMaxSweeps = "als_max_sweeps"
    case outerTolerance = "outer_tolerance"
    case divergenceFactor = "divergence_factor"
    case singleTask = "single_task"
    case allowUnidentifiable = "allow_unidentifiable"
    case clipValues = "clip_values"
  }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    var config = TrainConfig()
    config.features =
      try c.decodeIfPresent(FeatureMapSpec.self, forKey: .features) ?? config.features
    config.mode = try c.decodeIfPresent(Mode.self, forKey: .mode) ?? config.mode
    config.gamma = try c.decodeIfPresent(Double.self, forKey: .gamma)
    config.iterations = try c.decodeIfPresent(Int.self, forKey: .iterations) ?? config.iterations
    config.horizon = try c.decodeIfPresent(Int.self, forKey: .horizon)
    config.stepData = try c.decodeIfPresent(StepData.self, forKey: .stepData) ?? config.stepData
    config.representation =
      try c.decodeIfPresent(Representation.self, forKey: .representation) ?? config.representation
    if let value = try Self.decodeAuto(Int.self, c, .rank) {
      config.rank = value
      config.rankAuto = false
    }
    if let value = try Self.decodeAuto(Double.self, c, .ridge) {
      config.ridge = value
      config.ridgeAuto = false
    }
    if let value = try Self.decodeAuto(Double.self, c, .headRidge) {
      config.headRidge = value
      config.headRidgeAuto = false
    }
    if let text = try c.decodeIfPresent(String.self, forKey: .ridgeForm), text != "auto" {
      guard let value = FQIParameters.RidgeForm(rawValue: text) else {
        throw DecodingError.dataCorruptedError(
          forKey: .ridgeForm, in: c,
          debugDescription: "expected \"factors\", \"theta\" or \"auto\", found \"\(text)\"")
      }
      config.ridgeForm = value
      config.ridgeFormAuto = false
    }
    config.alsTolerance =
      try c.decodeIfPresent(Double.self, forKey: .alsTolerance) ?? config.alsTolerance
    config.alsMaxSweeps =
      try c.decodeIfPresent(Int.self, forKey: .alsMaxSweeps) ?? config.alsMaxSweeps
    config.outerTolerance =
      try c.decodeIfPresent(Double.self, forKey: .outerTolerance) ?? config.outerTolerance
    config.divergenceFactor =
      try c.decodeIfPresent(Double.self, forKey: .divergenceFactor) ?? config.divergenceFactor
    config.singleTask = try c.decodeIfPresent(Bool.self, forKey: .singleTask) ?? config.singleTask
    config.truth = try c.decodeIfPresent(String.self, forKey: .truth)
    config.tasks = try c.decodeIfPresent([String].self, forKey: .tasks)
    config.seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? config.seed
    config.allowUnidentifiable =
      try c.decodeIfPresent(Bool.self, forKey: .allowUnidentifiable) ?? config.allowUnidentifiable
    config.clipValues = try c.decodeIfPresent(Bool.self, forKey: .clipValues) ?? config.clipValues
    self = config
  }

  /// A number, or nil for "auto" or an absent key.
  static func decodeAuto<T: Decodable>(
    _ type: T.Type, _ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys
  ) throws -> T? {
    if (try? c.decodeIfPresent(String.self, forKey: key)) == "auto" { return nil }
    return try c.decodeIfPresent(T.self, forKey: key)
  }

  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(features, forKey: .features)
    try c.encode(mode, forKey: .mode)
    try c.encodeIfPresent(gamma, forKey: .gamma)
    try c.encode(iterations, forKey: .iterations)
    try c.encodeIfPresent(horizon, forKey: .horizon)
    try c.encode(stepData, forKey: .stepData)
    try c.encode(representation, forKey: .representation)
    if rankAuto { try c.encode("auto", forKey: .rank) } else { try c.encode(rank, forKey: .rank) }
    if ridgeAuto { try c.encode("auto", forKey: .ridge) } else { try c.encode(ridge, forKey: .ridge) }
    if headRidgeAuto && headRidge == nil {
      try c.encode("auto", forKey: .headRidge)
    } else {
      try c.encodeIfPresent(headRidge, forKey: .headRidge)
    }
    if ridgeFormAuto {
      try c.encode("auto", forKey: .ridgeForm)
    } else {
      try c.encode(ridgeForm, forKey: .ridgeForm)
    }
    try c.encode(alsTolerance, forKey: .alsTolerance)
    try c.encode(alsMaxSweeps, forKey: .alsMaxSweeps)
    try c.encode(outerTolerance, forKey: .outerTolerance)
    try c.encode(divergenceFactor, forKey: .divergenceFactor)
    try c.encode(singleTask, forKey: .singleTask)
    try c.encodeIfPresent(truth, forKey: .truth)
    try c.encodeIfPresent(tasks, forKey: .tasks)
    try c.encode(seed, forKey: .seed)
    try c.encode(allowUnidentifiable, forKey: .allowUnidentifiable)
    try c.encode(clipValues, forKey: .clipValues)
  }

  /// Reads a JSON config file. Unknown keys, wrong types and malformed JSON are refused with
  /// a message naming the file and the key.
  public static func load(path: String) throws(FQIError) -> TrainConfig {
    let data: Data
    do {
      data = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
      throw .invalidSetting("\(path): cannot read the config file: \(error.localizedDescription)")
    }
    let object: Any
    do {
      object = try JSONSerialization.jsonObject(with: data)
    } catch {
      throw .invalidSetting("\(path): not valid JSON: \(error.localizedDescription)")
    }
    guard let dictionary = object as? [String: Any] else {
      throw .invalidSetting("\(path): expected a JSON object at the top level")
    }
    let known = Set(CodingKeys.allCases.map(\.rawValue))
    if let unknown = dictionary.keys.sorted().first(where: { !known.contains($0) }) {
      throw .invalidSetting(
        "\(path): unknown key '\(unknown)' (known: \(known.sorted().joined(separator: ", ")))")
    }
    if let features = dictionary["features"] as? [String: Any],
      let unknown = features.keys.sorted().first(where: { !FeatureMapSpec.keys.contains($0) })
    {
      throw .invalidSetting(
        "\(path): unknown key 'features.\(unknown)' (known: \(FeatureMapSpec.keys.joined(separator: ", ")))"
      )
    }
    do {
      return try JSONDecoder().decode(TrainConfig.self, from: data)
    } catch let DecodingError.typeMismatch(type, context) {
      throw .invalidSetting(
        "\(path): key '\(keyPath(context))': expected \(type), \(context.debugDescription)")
    } catch let DecodingError.valueNotFound(type, context) {
      throw .invalidSetting("\(path): key '\(keyPath(context))': expected \(type), found null")
    } catch let DecodingError.keyNotFound(key, context) {
      throw .invalidSetting(
        "\(path): key '\(keyPath(context).isEmpty ? "" : keyPath(context) + ".")\(key.stringValue)' is required"
      )
    } catch let DecodingError.dataCorrupted(context) {
      throw .invalidSetting("\(path): key '\(keyPath(context))': \(context.debugDescription)")
    } catch {
      throw .invalidSetting("\(path): \(error)")
    }
  }

  static func keyPath(_ context: DecodingError.Context) -> String {
    context.codingPath.map(\.stringValue).joined(separator: ".")
  }

  /// The discount actually used.
  public var resolvedGamma: Double { gamma ?? (mode == .discounted ? 0.9 : 1) }

  /// Checks every setting; the message names the config key (and flag).
  public func validate() throws(FQIError) {
    func fail(_ message: String) -> FQIError { .invalidSetting(message) }
    do {
      try features.validate()
    } catch {
      throw fail(error.description)
    }
    let gamma = resolvedGamma
    switch mode {
    case .discounted:
      guard gamma >= 0 && gamma < 1 else {
        throw fail("gamma (--gamma) must be in [0, 1) in discounted mode, found \(gamma)")
      }
      if horizon != nil {
        throw fail("horizon (--horizon) is only for mode \"finite_horizon\"")
      }
    case .finiteHorizon:
      guard gamma > 0 && gamma <= 1 else {
        throw fail("gamma (--gamma) must be in (0, 1] in finite-horizon mode, found \(gamma)")
      }
      guard let horizon, horizon >= 1 else {
        throw fail(
          "mode \"finite_horizon\" needs horizon (--horizon) >= 1, found \(horizon.map(String.init) ?? "none")"
        )
      }
      guard horizon <= 100_000 else { throw fail("horizon (--horizon) must be at most 100000") }
    }
    guard iterations >= 1 else {
      throw fail("iterations (--iterations) must be at least 1, found \(iterations)")
    }
    guard rank >= 1 else { throw fail("rank (--rank) must be at least 1, found \(rank)") }
    guard ridge >= 0 && ridge.isFinite else {
      throw fail("ridge (--ridge) must be finite and >= 0, found \(ridge)")
    }
    if let headRidge, !(headRidge >= 0 && headRidge.isFinite) {
      throw fail("head_ridge (--head-ridge) must be finite and >= 0, found \(headRidge)")
    }
    guard alsTolerance >= 0 && alsTolerance.isFinite else {
      throw fail("als_tolerance (--als-tolerance) must be finite and >= 0, found \(alsTolerance)")
    }
    guard alsMaxSweeps >= 1 else {
      throw fail("als_max_sweeps (--als-max-sweeps) must be at least 1, found \(alsMaxSweeps)")
    }
    guard outerTolerance >= 0 && outerTolerance.isFinite else {
      throw fail("outer_tolerance must be finite and >= 0, found \(outerTolerance)")
    }
    guard divergenceFactor > 1 && divergenceFactor.isFinite else {
      throw fail("divergence_factor must be finite and > 1, found \(divergenceFactor)")
    }
    if let tasks {
      if tasks.isEmpty { throw fail("tasks (--tasks) must name at least one task") }
      if Set(tasks).count != tasks.count { throw fail("tasks (--tasks) names a task twice") }
    }
  }

  /// The numerical parameters of the run.
  public var parameters: FQIParameters {
    let objective: FQIParameters.Objective =
      mode == .discounted
      ? .discounted(gamma: resolvedGamma, iterations: iterations)
      : .finiteHorizon(horizon: horizon ?? 1, gamma: resolvedGamma)
    var parameters = FQIParameters(
      objective: objective, rank: rank, ridge: ridge, headRidge: headRidge,
      alsTolerance: alsTolerance, alsMaxSweeps: alsMaxSweeps, outerTolerance: outerTolerance,
      outerMaxRounds: iterations, sharedRepresentation: representation == .shared,
      divergenceFactor: divergenceFactor, clipValues: clipValues)
    parameters.ridgeForm = ridgeForm
    return parameters
  }

  /// The resolved config as JSON (sorted keys, defaults filled in): stored in model.h5.
  public func resolvedJSON() -> String {
    var copy = self
    copy.gamma = resolvedGamma
    if !(headRidgeAuto && headRidge == nil) { copy.headRidge = headRidge ?? ridge }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    do {
      return String(decoding: try encoder.encode(copy), as: UTF8.self)
    } catch {
      // Encoding plain numbers, strings and arrays cannot fail; keep a trace if it ever does.
      return "{\"error\": \(FeatureMap.jsonString("\(error)"))}"
    }
  }
}
