import Foundation

/// One `mtfqi-fit` run: the frozen representation, the new task's store, what to fit.
/// Settings left nil come from the representation (the model's training settings).
public struct FitRequest: Sendable {
  public var representation: String
  public var store: String
  /// nil: the store's only task (an error when it holds several).
  public var task: String?
  public var output: String
  public var mode: TrainConfig.Mode?
  public var gamma: Double?
  public var iterations: Int?
  public var horizon: Int?
  public var stepData: TrainConfig.StepData?
  /// The B used at every step (nil: the shared B, or B_h at step h for a per-step representation).
  public var step: Int?
  public var headRidge: Double?
  public var divergenceFactor: Double?
  /// Also fit the scratch baseline (single-task FQI on psi).
  public var scratch = false
  /// The scratch baseline's ridge (nil: automatic, see `HeadFitter.automaticScratchRidge`).
  public var scratchRidge: Double?
  /// A truth file: adds the oracle baseline (frozen-head FQI on the true features phi*).
  public var truth: String?
  /// Hold out this share of the rows (seeded) and report each method's Bellman error on them.
  public var holdout: Double?
  public var seed: UInt64 = 0
  public var qTablesDirectory: String?

  public init(representation: String, store: String, task: String?, output: String) {
    self.representation = representation
    self.store = store
    self.task = task
    self.output = output
  }
}

/// What a fit did, for the summary and `--json`.
public struct FitSummary: Sendable, Codable {
  public var output: String
  public var task: String
  public var store: String
  public var representation: String
  public var transitions: Int
  public var fitted: Int
  public var rank: Int
  public var featureDimension: Int
  public var mode: String
  public var gamma: Double
  public var iterations: Int?
  public var horizon: Int?
  public var headRidge: Double
  public var scratchRidge: Double?
  /// Final RMS Bellman residual over the fitted rows (the last log row) per method.
  public var frozenResidual: Double
  public var scratchResidual: Double?
  /// Why the scratch baseline failed (it diverged), when it did.
  public var scratchFailure: String?
  public var oracleResidual: Double?
  /// The frozen-vs-scratch call (discounted fits): estimated values, span captured, the
  /// recommendation and the ridge candidates.
  public var comparison: FrozenScratchComparison?
  public var recommended: String?
  public var holdout: TrainedHead.Holdout?
  public var featureSHA256: String
  public var qTables: [String]
  public var seconds: Double

  enum CodingKeys: String, CodingKey {
    case output, task, store, representation, transitions, fitted, rank, mode, gamma, iterations
    case horizon, holdout, seconds
    case featureDimension = "feature_dim"
    case headRidge = "head_ridge"
    case scratchRidge = "scratch_ridge"
    case frozenResidual = "frozen_bellman_residual"
    case scratchResidual = "scratch_bellman_residual"
    case scratchFailure = "scratch_failure"
    case oracleResidual = "oracle_bellman_residual"
    case comparison, recommended
    case featureSHA256 = "feature_sha256"
    case qTables = "q_tables"
  }

  public var report: String {
    var lines = [
      "mtfqi-fit: task \(task) of \(store) (\(transitions) transitions, \(fitted) fitted) on \(representation) -> \(output)",
      "  frozen phi-hat: k = \(rank) head, ridge \(NumberText.fourDigits(headRidge)); "
        + (horizon.map { "finite horizon H = \($0)" }
          ?? "discounted, gamma = \(NumberText.fourDigits(gamma)), \(iterations ?? 0) iterations"),
      "  final Bellman residual (RMS over the fitted rows): frozen \(NumberText.fourDigits(frozenResidual))"
        + (scratchResidual.map {
          ", scratch (D = \(featureDimension), ridge \(NumberText.fourDigits(scratchRidge ?? 0))) \(NumberText.fourDigits($0))"
        } ?? "")
        + (oracleResidual.map { ", oracle \(NumberText.fourDigits($0))" } ?? ""),
    ]
    if let scratchFailure { lines.append("  scratch baseline failed: \(scratchFailure)") }
    if let comparison {
      if let failure = comparison.frozenFailure { lines.append("  frozen head failed: \(failure)") }
      lines.append(
        "  estimated value of the greedy policy at the states of \(comparison.heldOutRows) rows, cross-fitted over \(comparison.folds) folds of episodes (LSTD-Q on psi): frozen \(NumberText.fourDigits(comparison.frozenValue)) (head ridge \(NumberText.fourDigits(comparison.headRidge))), scratch \(NumberText.fourDigits(comparison.scratchValue)) (ridge \(NumberText.fourDigits(comparison.scratchRidge)))"
          + (comparison.valueRangeExcess.isFinite
            ? "; their LSTD-Q values leave the rewards' value range by \(NumberText.fourDigits(comparison.valueRangeExcess)) of its width" : "")
      )
      if comparison.trainingRewardsExplained.isFinite {
        lines.append(
          "  the training tasks' reward models explain \(String(format: "%.1f", 100 * comparison.trainingRewardsExplained))% of the task's reward variance; largest residual \(NumberText.fourDigits(comparison.rewardResidualMax)) against a threshold of \(NumberText.fourDigits(comparison.rewardResidualThreshold)): the reward is \(comparison.rewardResidualMax > comparison.rewardResidualThreshold ? "OUTSIDE" : "inside") their span"
        )
      }
      if comparison.rewardCaptured.isFinite {
        lines.append(
          "  the frozen span holds \(String(format: "%.1f", 100 * comparison.rewardCaptured))% of the task's rewards (a random subspace of its dimension: \(String(format: "%.1f", 100 * comparison.rewardChance))%, p = \(NumberText.fourDigits(comparison.rewardSpanPValue)))"
        )
      }
      lines.append(
        "  the frozen span captures \(String(format: "%.1f", 100 * comparison.spanCaptured))% of the scratch Q (G-weighted)"
      )
      lines.append("  recommended: \(comparison.recommended) (\(comparison.reason))")
      lines.append(
        "  evidence: \(comparison.evidence), decided by \(comparison.basis.replacingOccurrences(of: "_", with: " ")) (\(comparison.informativeEpisodes) of \(comparison.episodes) episodes show a reward other than the most common one or reach a terminal state)"
      )
    }
    if let holdout {
      var line =
        "  held-out Bellman error (\(holdout.rows.count) rows, \(String(format: "%.0f", 100 * holdout.fraction))%): frozen \(NumberText.fourDigits(holdout.frozen))"
      if let value = holdout.scratch { line += ", scratch \(NumberText.fourDigits(value))" }
      if let value = holdout.oracle { line += ", oracle \(NumberText.fourDigits(value))" }
      lines.append(line)
    }
    if !qTables.isEmpty { lines.append("  Q tables: \(qTables.joined(separator: ", "))") }
    lines.append("  time: \(String(format: "%.2f", seconds)) s")
    return lines.joined(separator: "\n")
  }
}

/// `mtfqi-fit`'s frozen-vs-scratch call (stored in head.h5, printed, in `--json`).
public struct FrozenScratchComparison: Sendable, Codable, Equatable {
  /// "frozen" or "scratch".
  public var recommended: String
  /// The estimated value of each method's greedy policy (best ridge) on the held-out rows.
  public var frozenValue: Double
  public var scratchValue: Double
  /// 1 - min_w ||theta_scratch - B w||_G^2 / ||theta_scratch||_G^2.
  public var spanCaptured: Double
  public var headRidge: Double
  public var scratchRidge: Double
  public var heldOutRows: Int
  public var candidates: [SelectionCandidate]
  public var frozenFailure: String?
  /// Cross-fitting folds (every episode is evaluation data once).
  public var folds = 0
  /// Mean over the evaluated rows of V_frozen(s) - V_scratch(s), and its standard error
  /// (clustered by episode).
  public var valueDifference = Double.nan
  public var differenceStandardError = Double.nan
  /// The same with each policy valued on its held-out fold alone (unbiased, little support).
  public var heldOutValueDifference = Double.nan
  public var heldOutDifferenceStandardError = Double.nan
  /// Where the two estimates disagree: the all-rows difference minus the same difference with
  /// the task's reward moved into the frozen span (the placebo, `PolicyComparison` point 6),
  /// and its standard error; NaN when the placebo was not needed.
  public var placeboExcess = Double.nan
  public var placeboExcessStandardError = Double.nan
  /// The reward span test (`PolicyComparison.RewardSpan`): NaN when it could not say anything.
  public var rewardCaptured = Double.nan
  public var rewardChance = Double.nan
  public var rewardSpanPValue = Double.nan
  /// The test on the training tasks' rewards (`RewardBasis.SpanTest`, `PolicyComparison` point
  /// 4): the share of the task's reward variance their reward models explain, the largest
  /// residual and the threshold it is held against; NaN when the representation carries no
  /// reward basis or the rewards are all equal.
  public var trainingRewardsExplained = Double.nan
  public var rewardResidualMax = Double.nan
  public var rewardResidualThreshold = Double.nan
  /// Which reward span test decided whether the reward is inside the span: "training_rewards",
  /// "chance" (no reward basis: the frozen span against a random subspace), or "" (neither could
  /// say anything).
  public var rewardSpanTest = ""
  /// How far the all-rows LSTD-Q solutions of the two chosen heads leave the rewards' value
  /// range on the task's rows, relative to its width (the larger of the two, over the folds;
  /// `LSTDQEvaluation.rangeExcess`); NaN when a method was not evaluated. Above
  /// `ModelSelection.unreliableExcess` the value estimates are not to be trusted (a warning).
  public var valueRangeExcess = Double.nan
  /// Why `recommended` is what it is, in words.
  public var reason = ""
  /// The rule that decided (`PolicyComparison.Basis` raw value).
  public var basis = ""
  /// The fitted rows' episodes, and those that say anything about values
  /// (`PolicyComparison.informativeEpisodes`).
  public var episodes = 0
  public var informativeEpisodes = 0
  /// "significant" (the value estimates decided), "inconclusive" (they could not tell the two
  /// policies apart) or "forced" (one method could not be used): `PolicyComparison` point 7.
  public var evidence: String {
    PolicyComparison.Basis(rawValue: basis).map { PolicyComparison.Evidence($0).rawValue } ?? ""
  }
  /// The warning an inconclusive call gets (nil otherwise).
  public var evidenceWarning: String? {
    guard evidence == PolicyComparison.Evidence.inconclusive.rawValue else { return nil }
    let rule: String
    switch PolicyComparison.Basis(rawValue: basis) {
    case .rewardSpan where rewardSpanTest == "training_rewards":
      rule =
        "the reward span test: the task's reward is outside the span of the training tasks' rewards (largest residual \(NumberText.fourDigits(rewardResidualMax)) against a threshold of \(NumberText.fourDigits(rewardResidualThreshold)))"
    case .rewardSpan: rule = "the reward span test"
    default: rule = "the default, the simpler frozen model"
    }
    var estimates = ""
    if valueDifference.isFinite, heldOutValueDifference.isFinite {
      estimates =
        " (frozen - scratch = \(NumberText.fourDigits(valueDifference)) +- \(NumberText.fourDigits(differenceStandardError)) on the task's data, \(NumberText.fourDigits(heldOutValueDifference)) +- \(NumberText.fourDigits(heldOutDifferenceStandardError)) held out)"
    }
    return
      "the estimated values do not settle which greedy policy is better\(estimates), so the call (\(recommended)) rests on \(rule): the two may be about equally good, or the task's data too few to say (\(informativeEpisodes) of its \(episodes) episodes show a reward other than the most common one or reach a terminal state)"
  }

  /// The warning for value estimates outside the rewards' value range (nil otherwise).
  public var valueRangeWarning: String? {
    guard valueRangeExcess > ModelSelection.unreliableExcess else { return nil }
    return
      "the value estimates of the frozen and scratch policies are unreliable on these data: their Q^pi leaves the rewards' value range by \(NumberText.fourDigits(valueRangeExcess)) times its width on the task's transitions (LSTD-Q extrapolates off the data), so a call that rests on them (evidence \(evidence)) may be wrong; check both heads' greedy policies in the environment"
  }

  enum CodingKeys: String, CodingKey {
    case recommended, candidates, folds, reason, basis, episodes, evidence
    case valueRangeExcess = "value_range_excess"
    case informativeEpisodes = "informative_episodes"
    case valueDifference = "value_difference"
    case differenceStandardError = "difference_standard_error"
    case heldOutValueDifference = "held_out_value_difference"
    case heldOutDifferenceStandardError = "held_out_difference_standard_error"
    case placeboExcess = "placebo_excess"
    case placeboExcessStandardError = "placebo_excess_standard_error"
    case rewardCaptured = "reward_captured"
    case rewardChance = "reward_chance"
    case rewardSpanPValue = "reward_span_p_value"
    case trainingRewardsExplained = "training_rewards_explained"
    case rewardResidualMax = "reward_residual_max"
    case rewardResidualThreshold = "reward_residual_threshold"
    case rewardSpanTest = "reward_span_test"
    case frozenValue = "frozen_estimated_value"
    case scratchValue = "scratch_estimated_value"
    case spanCaptured = "span_captured"
    case headRidge = "head_ridge"
    case scratchRidge = "scratch_ridge"
    case heldOutRows = "held_out_rows"
    case frozenFailure = "frozen_failure"
  }

  /// Non-finite numbers (a method that failed) are written as null: JSON has no NaN.
  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    func finite(_ value: Double) -> Double? { value.isFinite ? value : nil }
    try c.encode(recommended, forKey: .recommended)
    try c.encodeIfPresent(finite(frozenValue), forKey: .frozenValue)
    try c.encodeIfPresent(finite(scratchValue), forKey: .scratchValue)
    try c.encodeIfPresent(finite(spanCaptured), forKey: .spanCaptured)
    try c.encode(headRidge, forKey: .headRidge)
    try c.encode(scratchRidge, forKey: .scratchRidge)
    try c.encode(heldOutRows, forKey: .heldOutRows)
    try c.encode(candidates, forKey: .candidates)
    try c.encodeIfPresent(frozenFailure, forKey: .frozenFailure)
    try c.encode(folds, forKey: .folds)
    try c.encodeIfPresent(finite(valueDifference), forKey: .valueDifference)
    try c.encodeIfPresent(finite(differenceStandardError), forKey: .differenceStandardError)
    try c.encodeIfPresent(finite(heldOutValueDifference), forKey: .heldOutValueDifference)
    try c.encodeIfPresent(
      finite(heldOutDifferenceStandardError), forKey: .heldOutDifferenceStandardError)
    try c.encodeIfPresent(finite(placeboExcess), forKey: .placeboExcess)
    try c.encodeIfPresent(
      finite(placeboExcessStandardError), forKey: .placeboExcessStandardError)
    try c.encodeIfPresent(finite(rewardCaptured), forKey: .rewardCaptured)
    try c.encodeIfPresent(finite(rewardChance), forKey: .rewardChance)
    try c.encodeIfPresent(finite(rewardSpanPValue), forKey: .rewardSpanPValue)
    try c.encodeIfPresent(finite(trainingRewardsExplained), forKey: .trainingRewardsExplained)
    try c.encodeIfPresent(finite(rewardResidualMax), forKey: .rewardResidualMax)
    try c.encodeIfPresent(finite(rewardResidualThreshold), forKey: .rewardResidualThreshold)
    try c.encode(rewardSpanTest, forKey: .rewardSpanTest)
    try c.encodeIfPresent(finite(valueRangeExcess), forKey: .valueRangeExcess)
    try c.encode(reason, forKey: .reason)
    try c.encode(basis, forKey: .basis)
    try c.encode(evidence, forKey: .evidence)
    try c.encode(episodes, forKey: .episodes)
    try c.encode(informativeEpisodes, forKey: .informativeEpisodes)
  }

  public init(
    recommended: String, frozenValue: Double, scratchValue: Double, spanCaptured: Double,
    headRidge: Double, scratchRidge: Double, heldOutRows: Int, candidates: [SelectionCandidate],
    frozenFailure: String?
  ) {
    self.recommended = recommended
    self.frozenValue = frozenValue
    self.scratchValue = scratchValue
    self.spanCaptured = spanCaptured
    self.headRidge = headRidge
    self.scratchRidge = scratchRidge
    self.heldOutRows = heldOutRows
    self.candidates = candidates
    self.frozenFailure = frozenFailure
  }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    recommended = try c.decode(String.self, forKey: .recommended)
    frozenValue = try c.decodeIfPresent(Double.self, forKey: .frozenValue) ?? .nan
    scratchValue = try c.decodeIfPresent(Double.self, forKey: .scratchValue) ?? .nan
    spanCaptured = try c.decodeIfPresent(Double.self, forKey: .spanCaptured) ?? .nan
    headRidge = try c.decode(Double.self, forKey: .headRidge)
    scratchRidge = try c.decode(Double.self, forKey: .scratchRidge)
    heldOutRows = try c.decode(Int.self, forKey: .heldOutRows)
    candidates = try c.decode([SelectionCandidate].self, forKey: .candidates)
    frozenFailure = try c.decodeIfPresent(String.self, forKey: .frozenFailure)
    folds = try c.decodeIfPresent(Int.self, forKey: .folds) ?? 0
    valueDifference = try c.decodeIfPresent(Double.self, forKey: .valueDifference) ?? .nan
    differenceStandardError =
      try c.decodeIfPresent(Double.self, forKey: .differenceStandardError) ?? .nan
    heldOutValueDifference =
      try c.decodeIfPresent(Double.self, forKey: .heldOutValueDifference) ?? .nan
    heldOutDifferenceStandardError =
      try c.decodeIfPresent(Double.self, forKey: .heldOutDifferenceStandardError) ?? .nan
    placeboExcess = try c.decodeIfPresent(Double.self, forKey: .placeboExcess) ?? .nan
    placeboExcessStandardError =
      try c.decodeIfPresent(Double.self, forKey: .placeboExcessStandardError) ?? .nan
    rewardCaptured = try c.decodeIfPresent(Double.self, forKey: .rewardCaptured) ?? .nan
    rewardChance = try c.decodeIfPresent(Double.self, forKey: .rewardChance) ?? .nan
    rewardSpanPValue = try c.decodeIfPresent(Double.self, forKey: .rewardSpanPValue) ?? .nan
    trainingRewardsExplained =
      try c.decodeIfPresent(Double.self, forKey: .trainingRewardsExplained) ?? .nan
    rewardResidualMax = try c.decodeIfPresent(Double.self, forKey: .rewardResidualMax) ?? .nan
    rewardResidualThreshold =
      try c.decodeIfPresent(Double.self, forKey: .rewardResidualThreshold) ?? .nan
    rewardSpanTest = try c.decodeIfPresent(String.self, forKey: .rewardSpanTest) ?? ""
    valueRangeExcess = try c.decodeIfPresent(Double.self, forKey: .valueRangeExcess) ?? .nan
    reason = try c.decodeIfPresent(String.self, forKey: .reason) ?? ""
    basis = try c.decodeIfPresent(String.self, forKey: .basis) ?? ""
    episodes = try c.decodeIfPresent(Int.self, forKey: .episodes) ?? 0
    informativeEpisodes = try c.decodeIfPresent(Int.self, forKey: .informativeEpisodes) ?? 0
  }
}

/// The library entry point of `mtfqi-fit`.
public enum HeadFitter {
  /// The random stream of the hold-out split.
  public static let holdoutStream = "fit/holdout"

  public static func run(_ request: FitRequest, progress: (@Sendable (String) -> Void)? = nil)
    throws(FQIError) -> FitSummary
  {
    let started = Date()
    let blasThreads = LinearAlgebra.blasThreadCount
    LinearAlgebra.setBLASThreadCount(1)
    defer { LinearAlgebra.setBLASThreadCount(blasThreads) }

    var representation = try ExportedRepresentation.read(request.representation)
    if request.qTablesDirectory != nil && !representation.featureMap.observationSpace.isDiscrete {
      throw .invalidSetting(
        "--q-tables needs a Discrete observation space; the representation's is \(representation.featureMap.observationSpace)"
      )
    }
    let settings = try resolve(request, representation)
    let prepared = try prepare(request, representation: &representation, settings: settings)
    let methods = try fitMethods(
      request, prepared: prepared, representation: representation, settings: settings,
      progress: progress)
    let oracle = try fitOracle(request, prepared: prepared, runner: methods.runner)
    let holdout = try holdoutErrors(
      request, prepared: prepared, representation: representation, settings: settings,
      methods: methods, oracle: oracle)

    let storeDigest: String
    let representationDigest: String
    do {
      storeDigest = try SHA256Digest.ofFile(request.store)
      representationDigest = try SHA256Digest.ofFile(request.representation)
    } catch {
      throw .input(error.description)
    }
    let parameters = settings.parameters
    var headParameters = parameters
    headParameters.headRidge = methods.headRidge
    if let ridge = methods.scratch?.ridge { headParameters.ridge = ridge }
    var head = TrainedHead(
      representation: representation, task: prepared.name, parameters: headParameters,
      stepData: settings.stepData, featureSteps: prepared.featureSteps,
      heads: methods.frozen.heads, log: methods.frozen.log, scratch: methods.scratch,
      scratchFailure: methods.scratchFailure, oracle: oracle?.baseline,
      truthPath: request.truth, truthSHA256: oracle?.truthSHA256, holdout: holdout,
      storePath: request.store, storeSHA256: storeDigest,
      representationPath: request.representation, representationSHA256: representationDigest,
      fittedTransitions: prepared.trainingRows.count, transitions: prepared.task.count,
      featureSHA256: prepared.featureDigest, seed: request.seed, seconds: 0)
    head.comparison = methods.comparison
    head.seconds = Date().timeIntervalSince(started)
    try head.write(to: request.output)
    var qTables: [String] = []
    if let directory = request.qTablesDirectory {
      qTables = try HeadQTables.write(head, to: directory)
    }
    let horizon: Int?
    let iterations: Int?
    switch parameters.objective {
    case .discounted(_, let k):
      horizon = nil
      iterations = k
    case .finiteHorizon(let h, _):
      horizon = h
      iterations = nil
    }
    return FitSummary(
      output: request.output, task: prepared.name, store: request.store,
      representation: request.representation, transitions: prepared.task.count,
      fitted: prepared.trainingRows.count, rank: representation.rank,
      featureDimension: representation.featureMap.dimension,
      mode: horizon == nil ? "discounted" : "finite_horizon", gamma: parameters.gamma,
      iterations: iterations, horizon: horizon, headRidge: methods.headRidge,
      scratchRidge: methods.scratch?.ridge,
      frozenResidual: methods.frozen.log.last?.bellmanResiduals.first ?? .nan,
      scratchResidual: methods.scratch?.log.last?.bellmanResiduals.first,
      scratchFailure: methods.scratchFailure,
      oracleResidual: oracle?.baseline.log.last?.bellmanResiduals.first,
      comparison: methods.comparison, recommended: methods.comparison?.recommended,
      holdout: holdout, featureSHA256: prepared.featureDigest, qTables: qTables,
      seconds: Date().timeIntervalSince(started))
  }

  // MARK: Phases of a fit

  /// The task, its rows and its frozen features, ready to fit.
  struct Prepared {
    var name: String
    var task: TaskTransitions
    /// The index into the (reduced) `representation.bases` used at each step.
    var featureSteps: [Int]
    var trainingRows: [Int]
    var heldOut: [Int]
    /// The frozen features under each basis used.
    var features: [MaterializedFeatures]
    var featureDigest: String
  }

  /// Loads the task (the store's only one unless named), checks it against the representation,
  /// keeps only the bases used, splits off the hold-out rows and computes the frozen features.
  static func prepare(
    _ request: FitRequest, representation: inout ExportedRepresentation, settings: Settings
  ) throws(FQIError) -> Prepared {
    let taskName: String
    if let task = request.task {
      taskName = task
    } else {
      let names: [String]
      do {
        names = try StoreReader(path: request.store).taskNames
      } catch {
        throw .input(error.description)
      }
      guard names.count == 1 else {
        throw .invalidSetting(
          "\(request.store) holds \(names.count) tasks (\(names.joined(separator: ", "))): choose one with --task"
        )
      }
      taskName = names[0]
    }
    var task = try TaskTransitions.load(store: request.store, tasks: [taskName])[0]
    try representation.checkCompatible(
      observationSpace: task.observationSpace, actionSpace: task.actionSpace, store: request.store,
      task: taskName, source: request.representation, observations: task.observations)
    // The data lie inside the representation's spaces: fit in those (a small task's own).
    (task.observationSpace, task.actionSpace) = (representation.featureMap.observationSpace, representation.featureMap.actionSpace)

    // Keep only the bases used; featureSteps index into them.
    let used: [Int] = settings.basisPerStep
    var uniqueBases: [Int] = []
    for index in used where !uniqueBases.contains(index) { uniqueBases.append(index) }
    let featureSteps = used.map { index in uniqueBases.firstIndex(of: index) ?? 0 }
    representation.bases = uniqueBases.map { representation.bases[$0] }
    if representation.bases.count == 1 { representation.defaultStep = 0 }

    var trainingRows = Array(0..<task.count)
    var heldOut: [Int] = []
    if let fraction = request.holdout {
      (trainingRows, heldOut) = try split(
        task.count, fraction: fraction, seed: request.seed, task: taskName)
    }

    var features: [MaterializedFeatures] = []
    do {
      for b in representation.bases {
        features.append(
          try MaterializedFeatures.compute(task, map: representation.featureMap, b: b))
      }
    } catch {
      throw .linearAlgebra(context: "the frozen features of task \(taskName)", error: error)
    }
    // The features under the default B (what `mtfqi-export --store` materialises): their
    // digest lets a test check that both stages computed the same features.
    let featureDigest =
      uniqueBases.firstIndex(of: settings.defaultBasis).map { features[$0].digest } ?? ""
    return Prepared(
      name: taskName, task: task, featureSteps: featureSteps, trainingRows: trainingRows,
      heldOut: heldOut, features: features, featureDigest: featureDigest)
  }

  /// The frozen head and the scratch baseline on the fitted rows, and the call between them.
  struct Methods {
    var comparison: FrozenScratchComparison?
    var frozen: FrozenHeadFQI.Fit
    var headRidge: Double
    var scratch: TrainedHead.Baseline?
    var scratchFailure: String?
    /// The frozen-head runner (its settings serve the oracle too).
    var runner: FrozenHeadFQI
  }

  /// Frozen head and scratch, both always (one failing never loses the other): heads-only FQI
  /// on psi with B frozen (B_h at step h), and single-task FQI on psi, in the one schedule.
  /// Discounted fits first choose both ridges and the recommendation (`compare`).
  static func fitMethods(
    _ request: FitRequest, prepared: Prepared, representation: ExportedRepresentation,
    settings: Settings, progress: (@Sendable (String) -> Void)?
  ) throws(FQIError) -> Methods {
    let parameters = settings.parameters
    let task = prepared.task
    func reporter() -> (@Sendable (String, IterationRecord) -> Void)? {
      guard let progress else { return nil }
      return { method, record in
        var line = "\(method) \(record.iteration)"
        if record.step >= 0 { line += " (step \(record.step))" }
        line += ": Bellman residual \(NumberText.fourDigits(record.bellmanResiduals.first ?? .nan))"
        progress(line)
      }
    }
    let bases = prepared.featureSteps.map { representation.bases[$0] }
    var comparison: FrozenScratchComparison?
    var chosenHeadRidge = parameters.headRidge
    var chosenScratchRidge = request.scratchRidge
    if case .discounted = parameters.objective {
      comparison = try compare(
        task, rows: prepared.trainingRows, representation: representation, bases: bases,
        settings: settings, headRidge: request.headRidge, scratchRidge: request.scratchRidge,
        seed: request.seed)
      chosenHeadRidge = comparison?.headRidge ?? chosenHeadRidge
      chosenScratchRidge = comparison?.scratchRidge ?? chosenScratchRidge
    }
    var frozen = FrozenHeadFQI(
      objective: parameters.objective, headRidge: chosenHeadRidge,
      divergenceFactor: parameters.divergenceFactor, stepData: settings.stepData,
      task: prepared.name)
    frozen.progress = reporter()
    let problems = try frozen.problems(
      task, rows: prepared.trainingRows, featureMap: representation.featureMap)
    var frozenFit = FrozenHeadFQI.Fit(
      heads: Array(repeating: [Double](repeating: 0, count: representation.rank), count: bases.count),
      log: [])
    do {
      frozenFit = try frozen.fit(problems, bases: bases)
    } catch {
      guard case .diverged = error else { throw error }
      comparison?.frozenFailure = error.description
      comparison?.recommended = "scratch"
      comparison?.basis = PolicyComparison.Basis.frozenFailed.rawValue
      comparison?.reason = "the frozen head diverged on all the fitted rows"
    }
    var scratch: TrainedHead.Baseline?
    var scratchFailure: String?
    do {
      scratch = try fitScratch(
        problems, task: prepared.name, settings: settings, ridge: chosenScratchRidge,
        progress: reporter())
    } catch {
      guard case .diverged = error else { throw error }
      scratchFailure = error.description.replacingOccurrences(
        of: "e.g. --ridge", with: "e.g. --scratch-ridge"
      )
      .replacingOccurrences(of: "(now ", with: "(now --scratch-ridge ")
      if comparison?.frozenFailure != nil {
        throw .diverged(
          method: "frozen and scratch", iteration: 0, task: prepared.name,
          detail: "both fits failed", suggestion: scratchFailure ?? "")
      }
      comparison?.recommended = "frozen"
      comparison?.basis = PolicyComparison.Basis.scratchFailed.rawValue
      comparison?.reason = "the scratch baseline diverged on all the fitted rows"
    }
    if let theta = scratch?.vectors.first, var current = comparison {
      current.spanCaptured = try Self.spanCaptured(theta, problem: problems[0][0], b: bases[0])
      comparison = current
    }
    return Methods(
      comparison: comparison, frozen: frozenFit, headRidge: chosenHeadRidge, scratch: scratch,
      scratchFailure: scratchFailure, runner: frozen)
  }

  /// The oracle of a truth file and what the head records of it.
  struct Oracle {
    var baseline: TrainedHead.Baseline
    var features: MaterializedFeatures
    var truthSHA256: String
  }

  /// Oracle: heads-only FQI on phi* of a truth file (full-rank ridge on the k true features),
  /// with the frozen head's settings (`runner`). nil without `--truth`.
  static func fitOracle(_ request: FitRequest, prepared: Prepared, runner frozen: FrozenHeadFQI)
    throws(FQIError) -> Oracle?
  {
    guard let truthPath = request.truth else { return nil }
    let task = prepared.task
    let truth = try SyntheticTruth.read(truthPath)
    guard case .discrete(let n, _) = task.observationSpace, Int(n) == truth.states,
      case .discrete(let a, _) = task.actionSpace, Int(a) == truth.actions
    else {
      throw .guardrail(
        "\(truthPath): the truth is for Discrete(\(truth.states)) states x Discrete(\(truth.actions)) actions, but task \(prepared.name) of \(request.store) has \(task.observationSpace) x \(task.actionSpace)"
      )
    }
    let oracleMap = FeatureMap(
      spec: FeatureMapSpec(kind: .table, table: truthPath, normalize: false),
      observationSpace: task.observationSpace, actionSpace: task.actionSpace,
      dimension: truth.rank, structure: .pairs(states: truth.states, actions: truth.actions),
      table: truth.phiStar)
    let materialized: MaterializedFeatures
    do {
      materialized = try MaterializedFeatures.compute(
        task, map: oracleMap, b: Matrix.identity(truth.rank))
    } catch {
      throw .linearAlgebra(context: "the oracle features", error: error)
    }
    var runner = frozen
    runner.method = "oracle"
    let fit = try runner.fit(
      try runner.problems(task, rows: prepared.trainingRows, featureMap: oracleMap),
      bases: [Matrix.identity(truth.rank)])
    return Oracle(
      baseline: TrainedHead.Baseline(vectors: fit.heads, log: fit.log, ridge: frozen.headRidge),
      features: materialized, truthSHA256: truth.sha256)
  }

  /// Each method's Bellman error on the `--holdout` rows (nil without `--holdout`).
  static func holdoutErrors(
    _ request: FitRequest, prepared: Prepared, representation: ExportedRepresentation,
    settings: Settings, methods: Methods, oracle: Oracle?
  ) throws(FQIError) -> TrainedHead.Holdout? {
    guard let fraction = request.holdout else { return nil }
    let heldOut = prepared.heldOut
    let task = prepared.task
    let parameters = settings.parameters
    let frozenFit = methods.frozen
    let frozenError = try bellmanError(
      heldOut, task: task, parameters: parameters, stepData: settings.stepData,
      values: { h in
        Values.fromFeatures(
          prepared.features[prepared.featureSteps[h]], frozenFit.heads[h], rows: heldOut)
      }, steps: frozenFit.heads.count)
    var scratchError: Double?
    if let scratch = methods.scratch {
      scratchError = try bellmanError(
        heldOut, task: task, parameters: parameters, stepData: settings.stepData,
        values: { h throws(FQIError) in
          try Values.fromPsi(
            representation.featureMap, scratch.vectors[h], task: task, rows: heldOut)
        }, steps: scratch.vectors.count)
    }
    var oracleError: Double?
    if let oracle {
      oracleError = try bellmanError(
        heldOut, task: task, parameters: parameters, stepData: settings.stepData,
        values: { h in
          Values.fromFeatures(oracle.features, oracle.baseline.vectors[h], rows: heldOut)
        },
        steps: oracle.baseline.vectors.count)
    }
    return TrainedHead.Holdout(
      fraction: fraction, rows: heldOut, frozen: frozenError, scratch: scratchError,
      oracle: oracleError)
  }

  // MARK: Frozen against scratch

  /// The relative ridges tried for the head and for scratch (times the mean diagonal of
  /// B^T G B, resp. of G), as in `ModelSelection`.
  static let relativeRidges = ModelSelection.relativeRidges

  /// The frozen-vs-scratch call (`PolicyComparison` has the statistics and why):
  ///
  /// 1. scratch when the frozen features are zero on every row of the task (B^T G B = 0);
  /// 2. scratch when the frozen span holds no more of the task's rewards than a random
  ///    k-dimensional subspace would (the reward span test, level 0.05);
  /// 3. otherwise cross-fitting over the task's episodes: for every ridge left on auto both
  ///    methods are fitted on all folds but one and their greedy policies valued at the states
  ///    of the held-out fold's rows, by LSTD-Q on psi twice: on the held-out fold alone
  ///    (unbiased) and on all the task's rows (support). Each method keeps the ridge with the
  ///    higher held-out mean value. Scratch is recommended only when frozen is significantly
  ///    worse on all the rows (paired, standard error clustered by episode, c SE with c = max(2,
  ///    t_0.975(episodes - 1))) AND the
  ///    unbiased held-out difference confirms it by one SE, or, where the held-out difference
  ///    does not, frozen is significantly worse beyond the placebo with the task's reward moved
  ///    into the frozen span and most of the all-rows difference remains (`PolicyComparison`
  ///    point 6); else frozen, the simpler model.
  static func compare(
    _ task: TaskTransitions, rows: [Int], representation: ExportedRepresentation,
    bases: [Matrix], settings: Settings, headRidge: Double?, scratchRidge: Double?, seed: UInt64
  ) throws(FQIError) -> FrozenScratchComparison {
    let subset = task.selecting(rows)
    let parameters = settings.parameters
    let map = representation.featureMap
    let b = bases[0]
    // Scales and the span tests on all the fitted rows.
    let whole = try FrozenHeadFQI(
      objective: parameters.objective, headRidge: 0, divergenceFactor: parameters.divergenceFactor,
      stepData: settings.stepData, task: task.name
    ).problems(subset, rows: nil, featureMap: map)[0][0]
    let projected: Matrix
    do {
      projected = try whole.gram.projected(b)
    } catch {
      throw .linearAlgebra(context: "frozen-head Gram matrix", error: error)
    }
    var trace = 0.0
    for i in 0..<b.columns { trace += projected.storage[i + i * b.columns] }
    let headScale = max(trace / Double(max(b.columns, 1)), Double.leastNormalMagnitude)
    let scratchScale = max(whole.gram.meanDiagonal, Double.leastNormalMagnitude)
    // The frozen features vanish on every row of the new task (its states lie where the
    // training data gave B nothing): a frozen head can only say Q = 0.
    let frozenFeaturesVanish = !(trace > 1e-12 * Double(max(b.columns, 1)) * scratchScale)
    let rewardSpan = frozenFeaturesVanish ? nil : try PolicyComparison.rewardSpan(whole, b: b)
    let trainingSpan = try representation.rewardBasis?.test(subset, map: map)

    let frozenRidges = headRidge.map { [$0] } ?? relativeRidges.reversed().map { $0 * headScale }
    let scratchRidges =
      scratchRidge.map { [$0] } ?? relativeRidges.reversed().map { $0 * scratchScale }
    let folds = PolicyComparison.folds(subset, seed: seed)
    let crossFit = try crossFittedValues(
      subset, folds: folds, representation: representation, bases: bases, settings: settings,
      frozenRidges: frozenRidges, scratchRidges: scratchRidges)

    var candidates: [SelectionCandidate] = []
    func best(_ method: String, _ ridges: [Double], _ values: [[Double]?], scale: Double) -> Int? {
      var chosen: (index: Int, value: Double)?
      for (index, ridge) in ridges.enumerated() {
        let mean = values[index].map { $0.reduce(0, +) / Double(max($0.count, 1)) } ?? -.infinity
        candidates.append(
          SelectionCandidate(
            method: method, rank: method == "frozen" ? b.columns : 0, ridge: ridge,
            relativeRidge: ridge / scale, headRidge: ridge, iterations: 0, score: mean,
            heldOutBellmanError: .nan, chosen: false))
        if mean.isFinite, chosen.map({ mean > $0.value }) ?? true { chosen = (index, mean) }
      }
      if let chosen { candidates[candidates.count - ridges.count + chosen.index].chosen = true }
      return chosen?.index
    }
    let frozenBest = best("frozen", frozenRidges, crossFit.frozen, scale: headScale)
    let scratchBest = best("scratch", scratchRidges, crossFit.scratch, scale: scratchScale)
    let frozenValues = frozenBest.flatMap { crossFit.frozen[$0] }
    let scratchValues = scratchBest.flatMap { crossFit.scratch[$0] }
    func mean(_ values: [Double]?) -> Double {
      values.map { $0.reduce(0, +) / Double(max($0.count, 1)) } ?? -.infinity
    }
    var heldPaired: PolicyComparison.Paired?
    var fullPaired: PolicyComparison.Paired?
    if let frozenValues, let scratchValues, let frozenBest, let scratchBest,
      let frozenFull = crossFit.frozenFull[frozenBest],
      let scratchFull = crossFit.scratchFull[scratchBest]
    {
      heldPaired = PolicyComparison.Paired(
        zip(frozenValues, scratchValues).map { $0 - $1 }, units: crossFit.units)
      fullPaired = PolicyComparison.Paired(
        zip(frozenFull, scratchFull).map { $0 - $1 }, units: crossFit.units)
    }
    // Point 6 of `PolicyComparison`: only where the two estimates disagree.
    var excessPaired: PolicyComparison.Paired?
    if let fullPaired, let heldPaired, let frozenBest, let scratchBest,
      fullPaired.frozenSignificantlyWorse, !heldPaired.frozenWorseConfirmed,
      let frozenFull = crossFit.frozenFull[frozenBest],
      let scratchFull = crossFit.scratchFull[scratchBest]
    {
      excessPaired = try placeboExcess(
        subset, whole: whole, folds: folds, representation: representation, bases: bases,
        settings: settings, frozenRidge: frozenRidges[frozenBest],
        scratchRidge: scratchRidges[scratchBest],
        difference: zip(frozenFull, scratchFull).map { $0 - $1 }, units: crossFit.units)
    }
    let (recommended, basis, reason) = decide(
      vanish: frozenFeaturesVanish, trainingSpan: trainingSpan, rewardSpan: rewardSpan,
      full: fullPaired, held: heldPaired,
      excess: excessPaired, frozenFitted: frozenValues != nil, scratchFitted: scratchValues != nil)
    var comparison = FrozenScratchComparison(
      recommended: recommended, frozenValue: mean(frozenValues), scratchValue: mean(scratchValues),
      spanCaptured: .nan,
      headRidge: frozenBest.map { frozenRidges[$0] } ?? headRidge ?? parameters.headRidge,
      scratchRidge: scratchBest.map { scratchRidges[$0] } ?? scratchRidge ?? parameters.ridge,
      heldOutRows: crossFit.units.count, candidates: candidates, frozenFailure: nil)
    comparison.folds = folds.count
    if let frozenBest, let scratchBest {
      comparison.valueRangeExcess = max(
        crossFit.frozenExcess[frozenBest], crossFit.scratchExcess[scratchBest])
    }
    comparison.valueDifference = fullPaired?.mean ?? .nan
    comparison.differenceStandardError = fullPaired?.standardError ?? .nan
    comparison.heldOutValueDifference = heldPaired?.mean ?? .nan
    comparison.heldOutDifferenceStandardError = heldPaired?.standardError ?? .nan
    comparison.placeboExcess = excessPaired?.mean ?? .nan
    comparison.placeboExcessStandardError = excessPaired?.standardError ?? .nan
    comparison.rewardCaptured = rewardSpan?.captured ?? .nan
    comparison.rewardChance = rewardSpan?.chance ?? .nan
    comparison.rewardSpanPValue = rewardSpan?.pValue ?? .nan
    comparison.trainingRewardsExplained = trainingSpan?.explained ?? .nan
    comparison.rewardResidualMax = trainingSpan?.largestResidual ?? .nan
    comparison.rewardResidualThreshold = trainingSpan?.threshold ?? .nan
    comparison.rewardSpanTest =
      trainingSpan != nil ? "training_rewards" : rewardSpan != nil ? "chance" : ""
    comparison.reason = reason
    comparison.basis = basis.rawValue
    let counts = PolicyComparison.informativeEpisodes(subset)
    comparison.episodes = counts.episodes
    comparison.informativeEpisodes = counts.informative
    return comparison
  }

  /// `PolicyComparison` point 6: the all-rows `difference` (frozen - scratch at every evaluated
  /// row, in `crossFittedValues` order) minus the same difference on the placebo task (the
  /// task's rewards replaced by their projection on the frozen span, `spanRewards`), both
  /// methods fitted at the chosen ridges on the same folds; nil when a placebo fit diverged.
  static func placeboExcess(
    _ task: TaskTransitions, whole: RegressionData, folds: [[Int]],
    representation: ExportedRepresentation, bases: [Matrix], settings: Settings,
    frozenRidge: Double, scratchRidge: Double, difference: [Double], units: [Int64]
  ) throws(FQIError) -> PolicyComparison.Paired? {
    var placebo = task
    let order = PolicyComparison.layoutOrder(
      Array(0..<task.count), task: task, map: representation.featureMap)
    for (position, reward) in try PolicyComparison.spanRewards(whole, b: bases[0]).enumerated() {
      placebo.rewards[order[position]] = reward
    }
    let fit = try crossFittedValues(
      placebo, folds: folds, representation: representation, bases: bases, settings: settings,
      frozenRidges: [frozenRidge], scratchRidges: [scratchRidge])
    guard let frozen = fit.frozenFull[0], let scratch = fit.scratchFull[0] else { return nil }
    var excess: [Double] = []
    for i in difference.indices { excess.append(difference[i] - (frozen[i] - scratch[i])) }
    return PolicyComparison.Paired(excess, units: units)
  }

  /// The decision rule of `compare`, with the rule that decided and the reason in words.
  static func decide(
    vanish: Bool, trainingSpan: RewardBasis.SpanTest? = nil,
    rewardSpan: PolicyComparison.RewardSpan?, full: PolicyComparison.Paired?,
    held: PolicyComparison.Paired?, excess: PolicyComparison.Paired? = nil, frozenFitted: Bool,
    scratchFitted: Bool
  ) -> (String, PolicyComparison.Basis, String) {
    if vanish {
      return ("scratch", .featuresVanish, "the frozen features are zero on every row of the task")
    }
    let byValues = decideByValues(
      full: full, held: held, excess: excess, frozenFitted: frozenFitted,
      scratchFitted: scratchFitted)
    // Outside the span: scratch. When the value estimates (or a failed frozen fit) already say
    // scratch, the call keeps their basis: it did not need the span test.
    var outside: String?
    if let trainingSpan, trainingSpan.outsideSpan {
      outside =
        "the task's reward is outside the span of the training tasks' rewards: a residual of \(NumberText.fourDigits(trainingSpan.largestResidual)) after regressing it on their reward models (threshold \(NumberText.fourDigits(trainingSpan.threshold)); they explain \(NumberText.fourDigits(trainingSpan.explained)) of its variance)"
    } else if trainingSpan == nil, let rewardSpan, rewardSpan.outsideSpan {
      // The chance test only where the training rewards could not be tested (the direct test
      // supersedes it).
      outside =
        "the frozen span holds \(NumberText.fourDigits(rewardSpan.captured)) of the task's rewards, no more than a random subspace of its dimension would (\(NumberText.fourDigits(rewardSpan.chance)), p = \(NumberText.fourDigits(rewardSpan.pValue)))"
    }
    guard let outside else { return byValues }
    if byValues.0 == "scratch" { return ("scratch", byValues.1, byValues.2 + "; and " + outside) }
    return ("scratch", .rewardSpan, outside)
  }

  /// The call the value estimates make (points 3 and 6 of `PolicyComparison`).
  static func decideByValues(
    full: PolicyComparison.Paired?, held: PolicyComparison.Paired?,
    excess: PolicyComparison.Paired?, frozenFitted: Bool, scratchFitted: Bool
  ) -> (String, PolicyComparison.Basis, String) {
    guard frozenFitted else { return ("scratch", .frozenFailed, "no frozen head could be fitted") }
    guard scratchFitted, let full, let held else {
      return ("frozen", .scratchFailed, "no scratch fit could be evaluated")
    }
    let difference =
      "frozen - scratch = \(NumberText.fourDigits(full.mean)) +- \(NumberText.fourDigits(full.standardError)) on the task's data, \(NumberText.fourDigits(held.mean)) +- \(NumberText.fourDigits(held.standardError)) held out (SE over \(full.units) episodes)"
    if full.frozenSignificantlyWorse && held.frozenWorseConfirmed {
      return ("scratch", .valueEstimates, "frozen is significantly worse: \(difference)")
    }
    if full.frozenSignificantlyWorse, let excess, excess.frozenSignificantlyWorse,
      excess.mean < PolicyComparison.placeboShare * full.mean
    {
      return (
        "scratch", .placebo,
        "frozen is significantly worse on the task's data, and most of that remains when the reward is moved into the frozen span (\(NumberText.fourDigits(excess.mean)) +- \(NumberText.fourDigits(excess.standardError)) beyond that placebo): \(difference)"
      )
    }
    if full.frozenSignificantlyBetter || held.frozenSignificantlyBetter,
      !full.frozenSignificantlyWorse, !held.frozenSignificantlyWorse
    {
      return ("frozen", .valueEstimates, "frozen is significantly better: \(difference)")
    }
    return (
      "frozen", .noSignificantDifference,
      "frozen is not significantly worse, or the held-out estimate does not confirm it: \(difference)"
    )
  }

  /// Per candidate ridge, the value of its greedy policy at the state of every evaluated row
  /// (nil when a fit diverged), cross-fitted over `folds`; `units` are the rows' episodes (the
  /// row itself when episodes are not known), in the same order.
  struct CrossFit {
    /// Valued by LSTD-Q on the held-out fold alone (unbiased; little support on sparse data).
    var frozen: [[Double]?]
    var scratch: [[Double]?]
    /// Valued by LSTD-Q on all the task's rows (support; biased toward scratch, whose policy
    /// follows the empirical model of the rows it was fitted on, most of these).
    var frozenFull: [[Double]?]
    var scratchFull: [[Double]?]
    var units: [Int64]
    /// Per candidate ridge, the largest over folds of how far the all-rows LSTD-Q solution
    /// leaves the value range (`LSTDQEvaluation.rangeExcess`).
    var frozenExcess: [Double] = []
    var scratchExcess: [Double] = []
  }

  static func crossFittedValues(
    _ task: TaskTransitions, folds: [[Int]], representation: ExportedRepresentation,
    bases: [Matrix], settings: Settings, frozenRidges: [Double], scratchRidges: [Double]
  ) throws(FQIError) -> CrossFit {
    let parameters = settings.parameters
    let map = representation.featureMap
    var low = Double.infinity
    var high = -Double.infinity
    for r in task.rewards {
      low = min(low, r)
      high = max(high, r)
    }
    let range = parameters.valueRange(step: 0, rewardRange: low <= high ? low...high : 0...0)
    var result = CrossFit(
      frozen: Array(repeating: [], count: frozenRidges.count),
      scratch: Array(repeating: [], count: scratchRidges.count),
      frozenFull: Array(repeating: [], count: frozenRidges.count),
      scratchFull: Array(repeating: [], count: scratchRidges.count), units: [],
      frozenExcess: Array(repeating: 0, count: frozenRidges.count),
      scratchExcess: Array(repeating: 0, count: scratchRidges.count))
    // The evaluation model: LSTD-Q on all the task's rows (a fold alone rarely holds the
    // transitions along a policy's path on sparse data, and then rates every policy by its
    // first rewards only); a policy is still never scored at the states it was fitted on.
    let evaluation: RegressionData
    do {
      evaluation = try RegressionData.build(
        [(task, nil)], featureMap: map, discount: parameters.gamma)[0]
    } catch {
      throw .linearAlgebra(context: "frozen-vs-scratch evaluation data", error: error)
    }
    let ridge =
      ModelSelection.evaluationRidge
      * max(evaluation.gram.meanDiagonal, Double.leastNormalMagnitude)
    for heldOut in folds {
      let held = Set(heldOut)
      let training = (0..<task.count).filter { !held.contains($0) }
      let problems = try FrozenHeadFQI(
        objective: parameters.objective, headRidge: 0,
        divergenceFactor: parameters.divergenceFactor, stepData: settings.stepData,
        task: task.name
      ).problems(task, rows: training, featureMap: map)
      let points: RegressionData
      do {
        points = try RegressionData.build(
          [(task, heldOut)], featureMap: map, discount: parameters.gamma)[0]
      } catch {
        throw .linearAlgebra(context: "frozen-vs-scratch evaluation points", error: error)
      }
      let fullEvaluator = LSTDQEvaluation(
        data: evaluation, starts: points, ridge: ridge, range: range)
      let heldEvaluator = LSTDQEvaluation(
        data: points, starts: points,
        ridge: ModelSelection.evaluationRidge
          * max(points.gram.meanDiagonal, Double.leastNormalMagnitude),
        range: range)
      for row in PolicyComparison.layoutOrder(heldOut, task: task, map: map) {
        result.units.append(task.episodes.isEmpty ? Int64(row) : task.episodes[row])
      }
      func values(_ theta: [Double]) throws(FQIError) -> (
        held: [Double], full: [Double], excess: Double
      ) {
        do {
          let full = try PolicyComparison.stateValues(fullEvaluator, theta: theta, points: points)
          return (
            try PolicyComparison.stateValues(heldEvaluator, theta: theta, points: points).values,
            full.values, full.excess
          )
        } catch {
          throw .linearAlgebra(context: "frozen-vs-scratch policy evaluation", error: error)
        }
      }
      for (index, ridge) in frozenRidges.enumerated() where result.frozen[index] != nil {
        let frozen = FrozenHeadFQI(
          objective: parameters.objective, headRidge: ridge,
          divergenceFactor: parameters.divergenceFactor, stepData: settings.stepData,
          task: task.name)
        do throws(FQIError) {
          let fit = try frozen.fit(problems, bases: bases)
          let theta: [Double]
          do {
            theta = try LinearAlgebra.gemv(bases[0], fit.heads[0])
          } catch {
            throw .linearAlgebra(context: "B w", error: error)
          }
          let (held, full, excess) = try values(theta)
          result.frozen[index]? += held
          result.frozenFull[index]? += full
          result.frozenExcess[index] = max(result.frozenExcess[index], excess)
        } catch {
          guard case .diverged = error else { throw error }
          result.frozen[index] = nil
          result.frozenFull[index] = nil
        }
      }
      for (index, ridge) in scratchRidges.enumerated() where result.scratch[index] != nil {
        do throws(FQIError) {
          let fit = try fitScratch(
            problems, task: task.name, settings: settings, ridge: ridge, progress: nil)
          let (held, full, excess) = try values(fit.vectors[0])
          result.scratch[index]? += held
          result.scratchFull[index]? += full
          result.scratchExcess[index] = max(result.scratchExcess[index], excess)
        } catch {
          guard case .diverged = error else { throw error }
          result.scratch[index] = nil
          result.scratchFull[index] = nil
        }
      }
    }
    return result
  }

  /// The share of the scratch Q the frozen span holds, under the task's data distribution:
  /// 1 - min_w ||theta - B w||_G^2 / ||theta||_G^2 (G = Psi^T Psi / n).
  static func spanCaptured(_ theta: [Double], problem: RegressionData, b: Matrix)
    throws(FQIError) -> Double
  {
    let total: Double
    do {
      total = try problem.gram.quadratic(theta)
    } catch {
      throw .linearAlgebra(context: "span captured", error: error)
    }
    guard total > 0 else { return 1 }
    let fitted = try spanProjection(theta, problem: problem, b: b)
    do {
      let residual = try problem.gram.quadratic(zip(theta, fitted).map { $0 - $1 })
      return min(1, max(0, 1 - residual / total))
    } catch {
      throw .linearAlgebra(context: "span captured", error: error)
    }
  }

  /// B w with w = argmin ||theta - B w||_G (G = Psi^T Psi / n of `problem`).
  static func spanProjection(_ theta: [Double], problem: RegressionData, b: Matrix)
    throws(FQIError) -> [Double]
  {
    do {
      let gram = problem.gram
      let gTheta = try gram.multiply(theta)
      let projected = try gram.projected(b)
      let rhs = try LinearAlgebra.gemv(b, .transpose, gTheta)
      let w = try LinearAlgebra.ridgeSolve(
        projected, Matrix(rows: b.columns, columns: 1, columnMajor: rhs),
        ridge: 1e-12 * max(gram.meanDiagonal, Double.leastNormalMagnitude)
      ).storage
      return try LinearAlgebra.gemv(b, w)
    } catch {
      throw .linearAlgebra(context: "span captured", error: error)
    }
  }

  // MARK: Settings

  struct Settings {
    var parameters: FQIParameters
    var stepData: TrainConfig.StepData
    /// The index of the representation's B used at each step (one entry when discounted).
    var basisPerStep: [Int]
    /// The B whose features are digested (the one `mtfqi-export` materialises by default).
    var defaultBasis: Int
  }

  /// The fit's settings: the representation's, overridden by the request. Throws
  /// `.invalidSetting` (a usage error) for values out of range or a per-step representation
  /// used in a way its steps do not fit.
  static func resolve(_ request: FitRequest, _ representation: ExportedRepresentation)
    throws(FQIError) -> Settings
  {
    let base = representation.parameters
    var mode: TrainConfig.Mode
    var iterations = 100
    var horizon: Int?
    switch base.objective {
    case .discounted(_, let k):
      mode = .discounted
      iterations = k
    case .finiteHorizon(let h, _):
      mode = .finiteHorizon
      horizon = h
    }
    let modeChanged = request.mode != nil && request.mode != mode
    if let requested = request.mode { mode = requested }
    var gamma = modeChanged ? (mode == .discounted ? 0.9 : 1) : base.gamma
    if let value = request.gamma { gamma = value }
    if let value = request.iterations { iterations = value }
    if let value = request.horizon { horizon = value }
    let headRidge = request.headRidge ?? base.headRidge
    let divergenceFactor = request.divergenceFactor ?? base.divergenceFactor
    func fail(_ message: String) -> FQIError { .invalidSetting(message) }
    guard headRidge >= 0 && headRidge.isFinite else {
      throw fail("--head-ridge must be finite and >= 0, found \(headRidge)")
    }
    if let ridge = request.scratchRidge, !(ridge >= 0 && ridge.isFinite) {
      throw fail("--scratch-ridge must be finite and >= 0, found \(ridge)")
    }
    guard divergenceFactor > 1 && divergenceFactor.isFinite else {
      throw fail("--divergence-factor must be finite and > 1, found \(divergenceFactor)")
    }
    if let fraction = request.holdout, !(fraction > 0 && fraction < 1) {
      throw fail("--holdout must be a fraction strictly between 0 and 1, found \(fraction)")
    }
    let objective: FQIParameters.Objective
    switch mode {
    case .discounted:
      guard gamma >= 0 && gamma < 1 else {
        throw fail("--gamma must be in [0, 1) in discounted mode, found \(gamma)")
      }
      guard iterations >= 1 else {
        throw fail("--iterations must be at least 1, found \(iterations)")
      }
      if request.horizon != nil { throw fail("--horizon is only for --mode finite-horizon") }
      objective = .discounted(gamma: gamma, iterations: iterations)
    case .finiteHorizon:
      guard gamma > 0 && gamma <= 1 else {
        throw fail("--gamma must be in (0, 1] in finite-horizon mode, found \(gamma)")
      }
      guard let h = horizon, h >= 1, h <= 100_000 else {
        throw fail("--mode finite-horizon needs --horizon H >= 1 (at most 100000)")
      }
      objective = .finiteHorizon(horizon: h, gamma: gamma)
    }
    let steps = representation.bases.count
    if let step = request.step, !(step >= 0 && step < steps) {
      throw fail("--step \(step) is outside the representation's steps 0..<\(steps)")
    }
    var basisPerStep: [Int]
    switch objective {
    case .discounted:
      if steps > 1 && request.step == nil {
        throw fail(
          "the representation has one B per step (\(steps) steps) but the fit is discounted: choose the B to use with --step (default step \(representation.defaultStep))"
        )
      }
      basisPerStep = [request.step ?? 0]
    case .finiteHorizon(let h, _):
      if let step = request.step {
        basisPerStep = Array(repeating: step, count: h)
      } else if steps > 1 {
        guard steps == h else {
          throw fail(
            "the representation has one B per step for H = \(steps), but the fit asks for H = \(h): use --horizon \(steps), or one B for every step with --step"
          )
        }
        basisPerStep = Array(0..<h)
      } else {
        basisPerStep = Array(repeating: 0, count: h)
      }
    }
    var parameters = FQIParameters(
      objective: objective, rank: representation.rank, ridge: request.scratchRidge ?? base.ridge,
      headRidge: headRidge, sharedRepresentation: true, divergenceFactor: divergenceFactor)
    parameters.alsTolerance = base.alsTolerance
    return Settings(
      parameters: parameters, stepData: request.stepData ?? representation.stepData,
      basisPerStep: basisPerStep, defaultBasis: request.step ?? representation.defaultStep)
  }

  /// A seeded split: `round(fraction * n)` rows (at least 1) held out, the rest fitted; both
  /// ascending. The permutation is a Fisher-Yates shuffle driven by stream `holdoutStream`.
  static func split(_ n: Int, fraction: Double, seed: UInt64, task: String) throws(FQIError)
    -> (training: [Int], heldOut: [Int])
  {
    let count = min(max(1, Int((fraction * Double(n)).rounded())), n - 1)
    guard n >= 2, count >= 1 else {
      throw .guardrail("task \(task) has \(n) transition(s): too few to hold any out (--holdout)")
    }
    var generator = Xoshiro256StarStar(seed: seed, stream: holdoutStream)
    var order = Array(0..<n)
    for i in stride(from: n - 1, to: 0, by: -1) {
      let j = Int(generator.next() % UInt64(i + 1))
      order.swapAt(i, j)
    }
    return (Array(order[count...]).sorted(), Array(order[..<count]).sorted())
  }

  // MARK: Scratch

  /// The automatic scratch ridge: the model's ridge when the task has at least 2D rows, else
  /// at least 1e-3 times the mean diagonal of its Gram matrix (the smallest ridge
  /// `mtfqi-train` accepts for so few rows).
  static func automaticScratchRidge(
    modelRidge: Double, rows: Int, dimension d: Int, meanDiagonal: Double
  )
    -> Double
  {
    rows >= 2 * d ? modelRidge : max(modelRidge, 1e-3 * meanDiagonal)
  }

  static func fitScratch(
    _ problems: [[RegressionData]], task: String, settings: Settings, ridge: Double?,
    progress: (@Sendable (String, IterationRecord) -> Void)?
  ) throws(FQIError) -> TrainedHead.Baseline {
    var resolvedRidge = ridge ?? 0
    if ridge == nil {
      resolvedRidge = settings.parameters.ridge
      for step in problems {
        for problem in step {
          resolvedRidge = max(
            resolvedRidge,
            automaticScratchRidge(
              modelRidge: settings.parameters.ridge, rows: problem.count,
              dimension: problem.dimension, meanDiagonal: problem.gram.meanDiagonal))
        }
      }
    }
    var parameters = settings.parameters
    parameters.ridge = resolvedRidge
    var runner = FittedQIteration(parameters: parameters, taskNames: [task])
    runner.method = "scratch"
    runner.progress = progress
    let fit = try runner.singleTask(problems, ridge: resolvedRidge)
    return TrainedHead.Baseline(
      vectors: fit.thetas.map { $0.column(0) }, log: fit.log, ridge: resolvedRidge)
  }

  // MARK: Hold-out Bellman error

  /// Q_h at the held-out rows and max_a' Q_h at their next observations.
  struct Values {
    var current: [Double]
    var nextMax: [Double]

    static func fromFeatures(_ features: MaterializedFeatures, _ w: [Double], rows: [Int]) -> Values
    {
      let k = features.rank
      var current: [Double] = []
      var next: [Double] = []
      for row in rows {
        var q = 0.0
        for j in 0..<k { q += features.phi[row * k + j] * w[j] }
        current.append(q)
        next.append(FrozenHeadFQI.maxNextValue(features, row: row, w: w))
      }
      return Values(current: current, nextMax: next)
    }

    /// From psi^T theta: Q tables for pair maps, phi(s) blocks for block maps.
    static func fromPsi(_ map: FeatureMap, _ theta: [Double], task: TaskTransitions, rows: [Int])
      throws(FQIError) -> Values
    {
      let actions = map.actionCount
      let actionStart = map.actionStart
      var current: [Double] = []
      var next: [Double] = []
      switch map.structure {
      case .pairs(let states, _):
        let table: [Double]
        do {
          guard let values = try map.qTable(theta) else { return Values(current: [], nextMax: []) }
          table = values
        } catch {
          throw .linearAlgebra(context: "scratch Q table", error: error)
        }
        let start = Double(map.stateStart)
        for row in rows {
          let s = Int(task.observations[row] - start)
          current.append(table[s * actions + Int(task.actions[row] - actionStart)])
          let sn = task.nextObservations[row] - start
          if sn.isFinite, sn >= 0, sn < Double(states) {
            next.append((0..<actions).map { table[Int(sn) * actions + $0] }.max() ?? 0)
          } else {
            next.append(0)
          }
        }
      case .actionBlocks(_, let m):
        let d = task.observationDimension
        let observations = rows.flatMap { row in task.observations[(row * d)..<((row + 1) * d)] }
        let nextObservations = rows.flatMap { row in
          task.nextObservations[(row * d)..<((row + 1) * d)]
        }
        let phi = map.stateFeatures(observations, rows: rows.count)
        let phiNext = map.stateFeatures(nextObservations, rows: rows.count)
        func value(_ features: Matrix, _ i: Int, _ a: Int) -> Double {
          var sum = 0.0
          for j in 0..<m { sum += features.storage[i + j * rows.count] * theta[a * m + j] }
          return sum
        }
        for (i, row) in rows.enumerated() {
          current.append(value(phi, i, Int(task.actions[row] - actionStart)))
          next.append((0..<actions).map { value(phiNext, i, $0) }.max() ?? 0)
        }
      }
      return Values(current: current, nextMax: next)
    }
  }

  /// RMS over held-out rows (and steps) of r + gamma (1 - terminated) max_a' Q_{h+1}(s', a') -
  /// Q_h(s, a); Q_{h+1} = Q_h in discounted mode, 0 beyond the horizon. With per-step data,
  /// step h counts only the held-out rows of step h.
  static func bellmanError(
    _ rows: [Int], task: TaskTransitions, parameters: FQIParameters,
    stepData: TrainConfig.StepData, values: (Int) throws(FQIError) -> Values, steps: Int
  ) throws(FQIError) -> Double {
    let gamma = parameters.gamma
    var perStep: [Values] = []
    for h in 0..<steps { perStep.append(try values(h)) }
    var sum = 0.0
    var count = 0
    let finite: Bool
    if case .finiteHorizon = parameters.objective { finite = true } else { finite = false }
    for h in 0..<steps {
      for (i, row) in rows.enumerated() {
        if finite && stepData == .perStep && task.steps[row] != Int64(h) { continue }
        var target = task.rewards[row]
        if task.terminations[row] == 0 {
          if !finite {
            target += gamma * perStep[h].nextMax[i]
          } else if h + 1 < steps {
            target += gamma * perStep[h + 1].nextMax[i]
          }
        }
        let error = target - perStep[h].current[i]
        sum += error * error
        count += 1
      }
    }
    return count == 0 ? .nan : (sum / Double(count)).squareRoot()
  }
}

extension TaskTransitions {
  /// The same task restricted to `rows` (in the given order).
  func selecting(_ rows: [Int]) -> TaskTransitions {
    let d = observationDimension
    return TaskTransitions(
      name: name, observationSpace: observationSpace, actionSpace: actionSpace,
      observations: rows.flatMap { observations[($0 * d)..<(($0 + 1) * d)] },
      nextObservations: rows.flatMap { nextObservations[($0 * d)..<(($0 + 1) * d)] },
      actions: rows.map { actions[$0] }, rewards: rows.map { rewards[$0] },
      terminations: rows.map { terminations[$0] }, steps: rows.map { steps[$0] },
      episodes: episodes.isEmpty ? [] : rows.map { episodes[$0] })
  }
}
