import Foundation

/// One row of the Fourier feature-map selection table (model.h5 `/feature_selection`, printed
/// on stdout).
public struct FeatureCandidate: Sendable, Codable, Equatable {
  /// m, features per action block.
  public var fourierFeatures: Int
  public var bandwidth: Double
  /// The rung of successive halving: 0 on a subsample of the training rows, 1 on all of them.
  public var rung: Int
  /// Training rows the candidate was fitted on (summed over tasks).
  public var rows: Int
  /// FQI iterations, rank and absolute ridge of the reference fit the map was judged by.
  public var iterations: Int
  public var rank: Int
  public var ridge: Double
  /// Mean over tasks of the estimated value of the greedy policy on the held-out episodes, by
  /// LSTD-Q on the common evaluation features (the same for every candidate): what is compared.
  public var score: Double
  /// The same policy's value estimated by LSTD-Q on the candidate's own features: reported
  /// only (it is not comparable across maps; see `FeatureSelection`), on rung 1 (NaN on rung 0).
  public var ownFeaturesScore: Double
  /// Rung 1: the mean over tasks of the paired difference of `score` against the default map
  /// (m = 64, bandwidth 1, or the given number), and its standard error (NaN on rung 0 and for
  /// the default itself).
  public var improvement: Double
  public var improvementStandardError: Double
  /// The largest over tasks of how far the common evaluation's Q^pi leaves the rewards' value
  /// range on the held-out rows, relative to its width (`LSTDQEvaluation.rangeExcess`; NaN for
  /// a candidate that failed): above `ModelSelection.unreliableExcess` the score is not to be
  /// trusted.
  public var valueRangeExcess = Double.nan
  public var chosen: Bool

  enum CodingKeys: String, CodingKey {
    case bandwidth, rung, rows, iterations, rank, ridge, score, chosen
    case fourierFeatures = "fourier_features"
    case ownFeaturesScore = "own_features_score"
    case improvement
    case improvementStandardError = "improvement_standard_error"
    case valueRangeExcess = "value_range_excess"
  }

  /// Non-finite numbers (a candidate that failed) are written as null: JSON has no NaN.
  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(fourierFeatures, forKey: .fourierFeatures)
    try c.encode(bandwidth, forKey: .bandwidth)
    try c.encode(rung, forKey: .rung)
    try c.encode(rows, forKey: .rows)
    try c.encode(iterations, forKey: .iterations)
    try c.encode(rank, forKey: .rank)
    try c.encode(ridge, forKey: .ridge)
    try c.encodeIfPresent(score.isFinite ? score : nil, forKey: .score)
    try c.encodeIfPresent(
      ownFeaturesScore.isFinite ? ownFeaturesScore : nil, forKey: .ownFeaturesScore)
    try c.encodeIfPresent(improvement.isFinite ? improvement : nil, forKey: .improvement)
    try c.encodeIfPresent(
      improvementStandardError.isFinite ? improvementStandardError : nil,
      forKey: .improvementStandardError)
    try c.encodeIfPresent(
      valueRangeExcess.isFinite ? valueRangeExcess : nil, forKey: .valueRangeExcess)
    try c.encode(chosen, forKey: .chosen)
  }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    fourierFeatures = try c.decode(Int.self, forKey: .fourierFeatures)
    bandwidth = try c.decode(Double.self, forKey: .bandwidth)
    rung = try c.decode(Int.self, forKey: .rung)
    rows = try c.decode(Int.self, forKey: .rows)
    iterations = try c.decode(Int.self, forKey: .iterations)
    rank = try c.decode(Int.self, forKey: .rank)
    ridge = try c.decode(Double.self, forKey: .ridge)
    score = try c.decodeIfPresent(Double.self, forKey: .score) ?? -.infinity
    ownFeaturesScore = try c.decodeIfPresent(Double.self, forKey: .ownFeaturesScore) ?? .nan
    improvement = try c.decodeIfPresent(Double.self, forKey: .improvement) ?? .nan
    improvementStandardError =
      try c.decodeIfPresent(Double.self, forKey: .improvementStandardError) ?? .nan
    valueRangeExcess = try c.decodeIfPresent(Double.self, forKey: .valueRangeExcess) ?? .nan
    chosen = try c.decode(Bool.self, forKey: .chosen)
  }

  init(
    fourierFeatures: Int, bandwidth: Double, rung: Int, rows: Int, iterations: Int, rank: Int,
    ridge: Double
  ) {
    self.fourierFeatures = fourierFeatures
    self.bandwidth = bandwidth
    self.rung = rung
    self.rows = rows
    self.iterations = iterations
    self.rank = rank
    self.ridge = ridge
    score = -.infinity
    ownFeaturesScore = .nan
    improvement = .nan
    improvementStandardError = .nan
    chosen = false
  }
}

/// `--fourier-features auto` and `--bandwidth auto` (the default with `--features fourier` in
/// discounted mode): the Fourier map is chosen before rank and ridge (`ModelSelection`, which
/// then runs on the chosen map), by the estimated value of each candidate map's greedy policy
/// on held-out episodes.
///
/// - Candidates: m in `featureCounts` when m is auto, bandwidths `bandwidths` (in standard
///   deviations of the standardised observations) when the bandwidth is auto; a number the
///   user gave is the only value of its axis. A candidate map is exactly the map the final model
///   would have (same seed, same Omega and b for the same m, the same observation statistics).
/// - Split: the episodes `ModelSelection.split` holds out (same seed, same rows), so both
///   selections judge on the same held-out episodes.
/// - Fit: each map is judged by one reference multitask fit, at the user's rank and ridge when
///   given, otherwise rank min(`referenceRank`, T, D) and ridge `referenceRelativeRidge` times
///   the map's mean Gram diagonal (the strongest ridge of `ModelSelection`'s grid: the most
///   stable, so maps are compared on their features and not on a fit that went astray).
/// - Successive halving (shared work): rung 0 fits every candidate on a seeded subsample of the
///   training rows (`firstRungFraction` of each task's, at least `firstRungMinimumRows`) with a
///   fifth of the iterations and the screening ALS stop of `ModelSelection`
///   (`screeningSweeps`, `screeningTolerance`); rung 1 fits the best `survivors` and the default
///   map (m = 64, bandwidth 1; a given number stays) on all training rows with all iterations
///   to the certified tolerance. The candidates of a rung are fitted concurrently, results
///   taken in table order.
/// - Decision: the default map is kept unless a rung-1 candidate whose estimate is reliable
///   (`valueRangeExcess` at most `ModelSelection.unreliableExcess`) beats it by more than
///   `margin` standard errors of the paired per-task differences of the scores (with one task,
///   any improvement); among those that do, the highest score wins (ties: the earlier
///   candidate). The held-out estimate is noisy (a few held-out episodes per task) and the
///   best of many noisy scores is biased upward (the winner's curse), so a change away from a
///   default that is known to work must be clearly better, as in the one-standard-error rule.
///   On MountainCar (8 goals) the map 32/2 scored 1.3 above 64/1 on held-out episodes and
///   reached the goal in 74% of episodes against 98%.
/// - Score: mean over tasks of the LSTD-Q estimate of the greedy policy's value from the
///   held-out episodes' first states, computed on one common evaluation map for every
///   candidate (`evaluationMap`), not on the candidate's own features. Why: LSTD-Q on a
///   candidate's own features (what `ModelSelection` uses, where all candidates share one map)
///   measures the policy with a yardstick that changes with the candidate: each map has its own
///   approximation bias, and a policy evaluated on the very features its Q was fitted on is
///   self-consistent (at a fixed point of FQI on those features the LSTD-Q estimate of its
///   greedy policy is its own Q), so a map that fits the data badly but consistently scores
///   well. With one fixed map the scores differ only through the policies. The evaluation map
///   is independent of every candidate (its own random stream) and multi-scale (its features
///   cycle through every candidate bandwidth), so it favours no candidate's scale, and it has
///   as many features as the largest candidate. Both scores are recorded.
///
/// Deterministic for a seed.
enum FeatureSelection {
  static let subsampleStream = "train/feature-selection/subsample"
  static let evaluationStream = "train/feature-selection/evaluation"
  static let featureCounts = [32, 64, 128]
  static let bandwidths = [0.25, 0.5, 1, 2]
  static let survivors = 2
  /// The default map: m and bandwidth when left on auto.
  static let defaultFeatures = 64
  static let defaultBandwidth = 1.0
  /// Standard errors a candidate must beat the default map by.
  static let margin = 2.0
  static let firstRungFraction = 0.25
  static let firstRungMinimumRows = 2000
  static let referenceRank = 4
  static let referenceRelativeRidge = 0.1
  /// The LSTD-Q ridge, relative to the evaluation data's mean Gram diagonal (as
  /// `ModelSelection.evaluationRidge`).
  static let evaluationRidge = 1e-3

  struct Result {
    /// The chosen spec (both numbers explicit).
    var spec: FeatureMapSpec
    var table: [FeatureCandidate]
    var seconds: Double
  }

  /// Whether `config` leaves a Fourier setting to this selection.
  static func applies(_ config: TrainConfig) -> Bool {
    config.features.kind == .fourier && config.mode == .discounted
      && (config.features.fourierFeaturesAuto || config.features.bandwidthAuto)
  }

  /// The candidate specs in table order (m, then bandwidth, ascending).
  static func candidates(_ spec: FeatureMapSpec) -> [FeatureMapSpec] {
    let counts = spec.fourierFeaturesAuto ? featureCounts : [spec.fourierFeatures]
    let widths = spec.bandwidthAuto ? bandwidths : [spec.bandwidth]
    return counts.flatMap { m in
      widths.map { width in
        var candidate = spec
        candidate.fourierFeatures = m
        candidate.bandwidth = width
        candidate.fourierFeaturesAuto = false
        candidate.bandwidthAuto = false
        return candidate
      }
    }
  }

  /// Builds a map as `Trainer.run` does (all tasks' observations for the statistics).
  static func buildMap(_ spec: FeatureMapSpec, tasks: [TaskTransitions], seed: UInt64)
    throws(FQIError) -> FeatureMap
  {
    do {
      return try FeatureMap.build(
        spec: spec, observationSpace: tasks[0].observationSpace,
        actionSpace: tasks[0].actionSpace, trainingObservations: tasks.map(\.observations),
        seed: seed)
    } catch {
      switch error {
      case .invalidSpec(let message): throw .invalidSetting(message)
      case .mismatch(let message): throw .guardrail(message)
      case .io(let message): throw .input(message)
      }
    }
  }

  /// The common evaluation map: `m` Fourier features per action block from stream
  /// `evaluationStream` of the seed, feature j at bandwidth `widths[j % widths.count]` (folded
  /// into Omega's column j, so the map's own bandwidth is 1), on `reference`'s observation
  /// statistics.
  static func evaluationMap(reference: FeatureMap, m: Int, widths: [Double], seed: UInt64)
    -> FeatureMap
  {
    let d = reference.observationDimension
    var generator = Xoshiro256StarStar(seed: seed, stream: evaluationStream)
    var weights = [Double](repeating: 0, count: d * m)
    for index in weights.indices {
      weights[index] = generator.nextNormal() / widths[(index % m) % widths.count]
    }
    var offsets = [Double](repeating: 0, count: m)
    for index in offsets.indices { offsets[index] = 2 * Double.pi * generator.nextUniform() }
    var spec = reference.spec
    spec.fourierFeatures = m
    spec.bandwidth = 1
    return FeatureMap(
      spec: spec, observationSpace: reference.observationSpace,
      actionSpace: reference.actionSpace, dimension: reference.actionCount * m,
      structure: .actionBlocks(actions: reference.actionCount, blockSize: m),
      fourierWeights: weights, fourierOffsets: offsets, normalization: reference.normalization)
  }

  /// A seeded subsample of `rows` (each kept with probability `fraction`, at least
  /// `firstRungMinimumRows` of them when there are that many), in row order.
  static func subsample(_ rows: [Int], seed: UInt64, index: Int) -> [Int] {
    let fraction = min(1, max(firstRungFraction, Double(firstRungMinimumRows) / Double(max(rows.count, 1))))
    guard fraction < 1 else { return rows }
    var generator = Xoshiro256StarStar(seed: seed, stream: subsampleStream, index: UInt64(index))
    let kept = rows.filter { _ in generator.nextUniform() < fraction }
    return kept.isEmpty ? rows : kept
  }

  /// The held-out data of every task on one map: all held-out rows, and their episodes' first
  /// rows.
  struct HeldOut: Sendable {
    var data: [RegressionData]
    var starts: [RegressionData]
    /// Per task, `LSTDQEvaluation.crossTotals` of `data` (the common evaluation map's, which
    /// every candidate is scored on; empty for a candidate's own held-out data).
    var crossTotals: [[Matrix]?] = []
  }

  static func heldOut(
    _ tasks: [TaskTransitions], rows: [[Int]], map: FeatureMap, discount: Double
  ) throws(FQIError) -> HeldOut {
    do {
      let data = try RegressionData.build(
        tasks.indices.map { (tasks[$0], rows[$0]) }, featureMap: map, discount: discount)
      let starts = try RegressionData.build(
        tasks.indices.map { (tasks[$0], ModelSelection.startRows(tasks[$0], rows[$0])) },
        featureMap: map, discount: discount)
      return HeldOut(data: data, starts: starts)
    } catch {
      throw .linearAlgebra(context: "feature selection data", error: error)
    }
  }

  /// Chooses the Fourier settings `config` leaves on auto.
  static func select(
    _ tasks: [TaskTransitions], config: TrainConfig, progress: (@Sendable (String) -> Void)?
  ) throws(FQIError) -> Result {
    let started = Date()
    let specs = candidates(config.features)
    let discount = config.resolvedGamma
    var training: [[Int]] = []
    var heldOutRows: [[Int]] = []
    for (index, task) in tasks.enumerated() {
      let split = ModelSelection.split(task, seed: config.seed, index: index)
      training.append(split.training)
      heldOutRows.append(split.heldOut)
    }
    let subsampled = training.indices.map { subsample(training[$0], seed: config.seed, index: $0) }
    let reference = try buildMap(specs[0], tasks: tasks, seed: config.seed)
    let widths = Array(Set(specs.map(\.bandwidth))).sorted()
    var judgeData = try heldOut(
      tasks, rows: heldOutRows,
      map: evaluationMap(
        reference: reference, m: specs.map(\.fourierFeatures).max() ?? 64, widths: widths,
        seed: config.seed),
      discount: discount)
    do {
      judgeData.crossTotals = try judgeData.data.map { data throws(LinearAlgebraError) in
        try LSTDQEvaluation.crossTotals(data)
      }
    } catch {
      throw .linearAlgebra(context: "feature selection data", error: error)
    }
    let judge = judgeData
    let ranges = tasks.map { task -> ClosedRange<Double> in
      let low = task.rewards.min() ?? 0
      let high = task.rewards.max() ?? 0
      return config.parameters.valueRange(step: 0, rewardRange: low...high)
    }
    let iterations = config.iterations
    let firstIterations = iterations >= 10 ? max(5, iterations / 5) : iterations
    // Candidates are independent: each rung's fits run concurrently, results in table order.
    let heldOut = heldOutRows
    @Sendable func run(_ indices: [Int], rows: [[Int]], iterations: Int, rung: Int)
      throws(FQIError) -> [(candidate: FeatureCandidate, perTask: [Double])]
    {
      try Parallel.map(indices.count) { position throws(FQIError) in
        let result = try evaluateWithTasks(
          specs[indices[position]], tasks: tasks, rows: rows, heldOutRows: heldOut,
          judge: judge, ranges: ranges, config: config, iterations: iterations, rung: rung)
        progress?(progressLine(result.candidate))
        return result
      }
    }
    var table: [FeatureCandidate] = []
    var first: [(index: Int, score: Double)] = []
    let screened = try run(
      Array(specs.indices), rows: subsampled, iterations: firstIterations, rung: 0)
    for (index, result) in screened.enumerated() {
      first.append((index, result.candidate.score))
      table.append(result.candidate)
    }
    // Stable: equal scores keep the candidate order.
    let incumbent = defaultIndex(specs, config.features)
    let finalists = Set(
      first.sorted { $0.score > $1.score || ($0.score == $1.score && $0.index < $1.index) }
        .prefix(survivors).map(\.index) + [incumbent]
    ).sorted()
    var rungOne: [(row: Int, index: Int, perTask: [Double])] = []
    let full = try run(finalists, rows: training, iterations: iterations, rung: 1)
    for (index, result) in zip(finalists, full) {
      rungOne.append((table.count, index, result.perTask))
      table.append(result.candidate)
    }
    let best = decide(rungOne, incumbent: incumbent, table: &table)
    guard let best else {
      throw .guardrail(
        "feature selection: no Fourier map could be fitted and evaluated (m \(specs.map(\.fourierFeatures)), bandwidths \(widths.map(NumberText.fourDigits))); give --fourier-features and --bandwidth"
      )
    }
    table[best.row].chosen = true
    return Result(
      spec: specs[best.index], table: table, seconds: Date().timeIntervalSince(started))
  }

  /// The index of the default map among the candidates (m = 64 and bandwidth 1 on the axes
  /// left on auto; the nearest candidate otherwise).
  static func defaultIndex(_ specs: [FeatureMapSpec], _ spec: FeatureMapSpec) -> Int {
    let m = spec.fourierFeaturesAuto ? defaultFeatures : spec.fourierFeatures
    let width = spec.bandwidthAuto ? defaultBandwidth : spec.bandwidth
    var best = 0
    for (index, candidate) in specs.enumerated() {
      func distance(_ c: FeatureMapSpec) -> Double {
        abs(log(Double(c.fourierFeatures) / Double(m))) + abs(log(c.bandwidth / width))
      }
      if distance(candidate) < distance(specs[best]) { best = index }
    }
    return best
  }

  /// The rung-1 decision (see the type's documentation): fills in each row's improvement over
  /// the default and its standard error; returns the winning row and candidate index.
  static func decide(
    _ rungOne: [(row: Int, index: Int, perTask: [Double])], incumbent: Int,
    table: inout [FeatureCandidate]
  ) -> (row: Int, index: Int)? {
    guard let base = rungOne.first(where: { $0.index == incumbent }),
      table[base.row].score.isFinite
    else {
      // The default failed: the best finite score.
      var best: (row: Int, index: Int)?
      for entry in rungOne where table[entry.row].score.isFinite {
        if best.map({ table[entry.row].score > table[$0.row].score }) ?? true {
          best = (entry.row, entry.index)
        }
      }
      return best
    }
    var best = (row: base.row, index: base.index)
    for entry in rungOne where entry.index != incumbent && table[entry.row].score.isFinite {
      let differences = zip(entry.perTask, base.perTask).map { $0 - $1 }
      let count = Double(differences.count)
      let mean = differences.reduce(0, +) / count
      var error = 0.0
      if differences.count >= 2 {
        let variance =
          differences.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (count - 1)
        error = (variance / count).squareRoot()
      }
      table[entry.row].improvement = mean
      table[entry.row].improvementStandardError = error
      // A challenger whose estimate left the value range is not trusted to beat the default.
      guard mean > margin * error, mean > 0,
        !(table[entry.row].valueRangeExcess > ModelSelection.unreliableExcess)
      else { continue }
      if best.index == incumbent || table[entry.row].score > table[best.row].score {
        best = (entry.row, entry.index)
      }
    }
    return best
  }

  static func progressLine(_ c: FeatureCandidate) -> String {
    "feature selection: m = \(c.fourierFeatures), bandwidth \(NumberText.fourDigits(c.bandwidth)), rung \(c.rung) (\(c.rows) rows, \(c.iterations) iterations): estimated value \(NumberText.fourDigits(c.score))"
  }

  /// Fits one candidate map on `rows` at the reference settings and scores it.
  static func evaluate(
    _ spec: FeatureMapSpec, tasks: [TaskTransitions], rows: [[Int]], heldOutRows: [[Int]],
    judge: HeldOut, ranges: [ClosedRange<Double>], config: TrainConfig, iterations: Int, rung: Int
  ) throws(FQIError) -> FeatureCandidate {
    try evaluateWithTasks(
      spec, tasks: tasks, rows: rows, heldOutRows: heldOutRows, judge: judge, ranges: ranges,
      config: config, iterations: iterations, rung: rung
    ).candidate
  }

  /// `evaluate`, with the per-task scores (empty when the fit failed).
  static func evaluateWithTasks(
    _ spec: FeatureMapSpec, tasks: [TaskTransitions], rows: [[Int]], heldOutRows: [[Int]],
    judge: HeldOut, ranges: [ClosedRange<Double>], config: TrainConfig, iterations: Int, rung: Int
  ) throws(FQIError) -> (candidate: FeatureCandidate, perTask: [Double]) {
    let map = try buildMap(spec, tasks: tasks, seed: config.seed)
    let sets = tasks.indices.map { tasks[$0].selecting(rows[$0]) }
    let problems = try RegressionData.problems(sets, featureMap: map, config: config)
    var scale = 0.0
    for problem in problems[0] { scale += problem.gram.meanDiagonal }
    scale = max(scale / Double(max(problems[0].count, 1)), Double.leastNormalMagnitude)
    var parameters = config.parameters
    parameters.rank =
      config.rankAuto ? min(referenceRank, tasks.count, map.dimension) : min(config.rank, map.dimension)
    parameters.ridge = config.ridgeAuto ? referenceRelativeRidge * scale : config.ridge
    parameters.headRidge =
      config.headRidgeAuto ? parameters.ridge : (config.headRidge ?? parameters.ridge)
    parameters.objective = .discounted(gamma: config.resolvedGamma, iterations: iterations)
    if rung == 0 {
      parameters.alsMaxSweeps = min(parameters.alsMaxSweeps, ModelSelection.screeningSweeps)
      parameters.alsTolerance = max(parameters.alsTolerance, ModelSelection.screeningTolerance)
    }
    var candidate = FeatureCandidate(
      fourierFeatures: spec.fourierFeatures, bandwidth: spec.bandwidth, rung: rung,
      rows: rows.reduce(0) { $0 + $1.count }, iterations: iterations, rank: parameters.rank,
      ridge: parameters.ridge)
    let runner = FittedQIteration(parameters: parameters, taskNames: tasks.map(\.name))
    let fit: MultitaskFit
    do {
      fit = try runner.multitask(problems)
    } catch {
      guard case .diverged = error else { throw error }
      return (candidate, [])
    }
    let own = try heldOut(tasks, rows: heldOutRows, map: map, discount: config.resolvedGamma)
    do {
      let product = try RankKSolver.thetas(fit.representations[0], fit.heads[0])
      var perTask: [Double] = []
      var ownTotal = 0.0
      var excess = 0.0
      for t in tasks.indices {
        let theta = product.column(t)
        let estimate = try commonValue(
          theta, own: own.data[t], ownStarts: own.starts[t], judge: judge.data[t],
          judgeStarts: judge.starts[t], range: ranges[t],
          judgeTotals: judge.crossTotals.isEmpty ? nil : judge.crossTotals[t])
        perTask.append(estimate.value)
        excess = max(excess, estimate.excess)
        // The own-features score is reported, not compared: computed for the rung-1 rows only
        // (it is an LSTD-Q solve per task on the candidate's own held-out data).
        guard rung > 0 else { continue }
        let ownEvaluator = LSTDQEvaluation(
          data: own.data[t], starts: own.starts[t],
          ridge: evaluationRidge * max(own.data[t].gram.meanDiagonal, Double.leastNormalMagnitude),
          range: ranges[t])
        ownTotal += try ownEvaluator.value(of: theta).value
      }
      candidate.score = perTask.reduce(0, +) / Double(tasks.count)
      candidate.valueRangeExcess = excess
      candidate.ownFeaturesScore = rung > 0 ? ownTotal / Double(tasks.count) : .nan
      return (candidate, perTask)
    } catch {
      throw .linearAlgebra(context: "feature selection: policy evaluation", error: error)
    }
  }

  /// The estimated value of the greedy policy of `theta` (on the candidate's features `own`,
  /// `ownStarts`) by LSTD-Q on the evaluation features (`judge`, `judgeStarts`, the same rows
  /// in the same order: both are laid out from the same task rows, regrouped by the logged
  /// action, which does not depend on the map):
  ///
  ///     (1/n) sum_i psi_i (psi_i - c_i psi(s'_i, pi(s'_i)))^T u + ridge u = (1/n) sum_i psi_i r_i
  ///
  /// with psi the evaluation features, then the mean over the start rows of
  /// clip(psi(s, pi(s))^T u, range); and how far psi^T u leaves `range` on the rows of `judge`,
  /// relative to its width (`LSTDQEvaluation.rangeExcess`). LU solve (LAPACK dgesv);
  /// deterministic.
  static func commonValue(
    _ theta: [Double], own: RegressionData, ownStarts: RegressionData, judge: RegressionData,
    judgeStarts: RegressionData, range: ClosedRange<Double>, judgeTotals: [Matrix]? = nil
  ) throws(LinearAlgebraError) -> (value: Double, excess: Double) {
    guard case .blocks(_, _, let ownNext, let m) = own.layout,
      case .blocks(let phi, let ranges, let phiNext, let e) = judge.layout,
      case .blocks(let ownStartPhi, _, _, _) = ownStarts.layout,
      case .blocks(let startPhi, _, _, _) = judgeStarts.layout
    else {
      preconditionFailure("FeatureSelection.commonValue: Fourier maps have action blocks")
    }
    let actions = phi.count
    let weights = Matrix(rows: m, columns: actions, columnMajor: theta)
    let nextPolicy = greedy(try LinearAlgebra.gemm(ownNext, weights), actions: actions)
    let d = e * actions
    var system = try LSTDQEvaluation.blockSystem(
      data: judge, phi: phi, ranges: ranges, phiNext: phiNext, m: e, policy: nextPolicy,
      totals: judgeTotals)
    let ridge = evaluationRidge * max(judge.gram.meanDiagonal, Double.leastNormalMagnitude)
    for i in 0..<d { system.storage[i + i * d] += ridge }
    let rhs = try judge.crossMoment(judge.rewards)
    let solution = try LinearAlgebra.solve(system, Matrix(rows: d, columns: 1, columnMajor: rhs))
    let evaluated = Matrix(rows: e, columns: actions, columnMajor: solution.storage)
    var total = 0.0
    var count = 0
    for (block, ownBlock) in zip(startPhi, ownStartPhi) where block.rows > 0 {
      let policy = greedy(try LinearAlgebra.gemm(ownBlock, weights), actions: actions)
      let values = try LinearAlgebra.gemm(block, evaluated)
      for i in 0..<block.rows {
        let value = values.storage[i + policy[i] * block.rows]
        total += min(max(value, range.lowerBound), range.upperBound)
        count += 1
      }
    }
    let excess = try LSTDQEvaluation(data: judge, starts: judgeStarts, ridge: ridge, range: range)
      .rangeExcess(solution.storage)
    return (count > 0 ? total / Double(count) : .nan, excess)
  }

  /// The argmax of each row of an n x A column-major matrix (ties: the lowest action).
  static func greedy(_ q: Matrix, actions: Int) -> [Int] {
    (0..<q.rows).map { i in
      var best = 0
      for a in 1..<max(actions, 1) where q.storage[i + a * q.rows] > q.storage[i + best * q.rows] {
        best = a
      }
      return best
    }
  }
}

extension TrainedModel {
  /// model.h5 `/feature_selection` (schemas/model.md): one row per candidate.
  func writeFeatureSelection(_ group: HDF5Group) throws(HDF5Error) {
    let table = featureSelection
    let rows = table.count
    try group.setAttribute("estimator", "lstd-q on common evaluation features")
    try group.setAttribute("held_out_fraction", ModelSelection.heldOutFraction)
    try group.setAttribute("seconds", featureSelectionSeconds)
    try group.writeDataset(
      "fourier_features", table.map { Int64($0.fourierFeatures) }, shape: [rows])
    try group.writeDataset("bandwidth", table.map(\.bandwidth), shape: [rows])
    try group.writeDataset("rung", table.map { Int64($0.rung) }, shape: [rows])
    try group.writeDataset("rows", table.map { Int64($0.rows) }, shape: [rows])
    try group.writeDataset("iterations", table.map { Int64($0.iterations) }, shape: [rows])
    try group.writeDataset("rank", table.map { Int64($0.rank) }, shape: [rows])
    try group.writeDataset("ridge", table.map(\.ridge), shape: [rows])
    try group.writeDataset("score", table.map(\.score), shape: [rows])
    try group.writeDataset("own_features_score", table.map(\.ownFeaturesScore), shape: [rows])
    try group.writeDataset("improvement", table.map(\.improvement), shape: [rows])
    try group.writeDataset(
      "improvement_standard_error", table.map(\.improvementStandardError), shape: [rows])
    try group.writeDataset("value_range_excess", table.map(\.valueRangeExcess), shape: [rows])
    try group.writeDataset("chosen", table.map { Int64($0.chosen ? 1 : 0) }, shape: [rows])
  }
}
