import Foundation

/// The statistics behind `mtfqi-fit`'s frozen-vs-scratch call (`HeadFitter.compare`).
///
/// 1. **Cross-fitting.** The new task's episodes are dealt (seeded shuffle, stream
///    `crossFitStream`) into `foldCount` folds; every fold is held out once: both methods are
///    fitted on the other folds and their greedy policies evaluated on it. So every episode is
///    evaluation data exactly once, and no policy is ever evaluated on the rows it was fitted on
///    (in-sample evaluation always favours scratch: its greedy policy is optimal for the rows'
///    own empirical model).
/// 2. **Per-state values, two evaluation models.** The estimator is `LSTDQEvaluation` (LSTD-Q
///    on psi) unchanged; where `LSTDQEvaluation.value` averages Q_pi(s, pi(s)) over the held-out
///    episodes' first states, the comparison takes it at the state of EVERY held-out row
///    (`stateValues`), and it fits the LSTD-Q model twice: on the held-out fold alone
///    (unbiased, but on sparse tabular data a fold holds few of the transitions along a
///    policy's path, so it rates policies mostly by their first rewards) and on all the
///    task's rows (support, but biased toward scratch: its greedy policy follows the empirical
///    model of the rows it was fitted on, most of these).
/// 3. **A paired comparison with its uncertainty** (`Paired`): d_i = V_frozen(s_i) -
///    V_scratch(s_i) over all held-out rows, its mean and a standard error clustered by episode
///    (rows of one episode are not independent). "Significantly" is mean +- c x SE with c =
///    `significance` (2), or Student's t 0.975 quantile with U - 1 degrees of freedom when that
///    is larger (`criticalValue`): a standard error clustered over U episodes is itself
///    uncertain when U is small (Cameron and Miller 2015, "A practitioner's guide to
///    cluster-robust inference"; t(4) = 2.78 for 5 episodes; at 2 SE a placebo excess of
///    -0.43 +- 0.21 over 5 episodes decided a four-rooms task of gym_check seed 10 for scratch,
///    and frozen was the better policy). Scratch is recommended when frozen is
///    significantly worse on the all-rows model (mean + c x SE < 0) and the
///    unbiased held-out difference confirms it by at least `confirmation` standard errors
///    (mean + SE < 0); otherwise the simpler frozen model. A same-sign test alone let noise
///    decide: on a four-rooms task inside the span (gym_check --seed 2) the all-rows estimate
///    was -0.11 +- 0.035 (biased toward scratch) and the held-out one -0.00023 +- 0.00025, and
///    the frozen head was in fact far better (exact gap 0.015 against 0.247).
/// 4. **Is the task's reward in the span of the training tasks' rewards?** When the
///    representation carries the training tasks' reward models (`RewardBasis`, written by
///    `mtfqi-train`), the new rewards are regressed on them, and a residual above 10% of the
///    reward range and the noise bound puts the reward outside: scratch. This is the direct
///    question (a representation learned from tasks whose rewards cannot express this one has
///    nothing to transfer for it), and it supersedes the chance test below, which only asks it
///    of the frozen Q span: on the gymnasium families the chance test passed three tasks
///    outside the span (the frozen span of smooth value functions holds more of any localised
///    reward than a random subspace) and failed five inside it. Without reward models, the
///    chance test (`RewardSpan`): the share of the task's
///    rewards (per-pair mean rewards, G-weighted, on the fitted rows) that the frozen span
///    holds, against what a random k-dimensional subspace of the p dimensions the data
///    resolve would hold (k / p on average; under that null the share is Beta(k/2, (p-k)/2)).
///    When the frozen span holds no more of the reward than chance (p-value above
///    `rewardSpanLevel`), the new task's reward lies outside the span: scratch. Held-out
///    evaluation cannot see this when the reward shows on a few rows only (a fold without them
///    rates every policy 0), the reward fit can.
/// 5. **Not a rule: the frozen head's Bellman residual.** An earlier rule called scratch when
///    the frozen head's final Bellman residual was more than twice the rewards' RMS while
///    scratch's was not ("the frozen head did not fit the task"). It was settled on two tasks;
///    over eleven gymnasium seeds it decided 8 calls, and the environment disagreed with 5 of
///    them (2 agreed, 1 tie): on data-poor four-rooms tasks a frozen head whose iterates never
///    settle can still rank the actions well, and the greedy policy, not the value's accuracy, is
///    what the call is about (the issue's own MountainCar case: a Bellman error misranked the
///    policies). The residuals stay in the summary (`frozen_bellman_residual`,
///    `scratch_bellman_residual`); the call rests on the policies' estimated values.
/// 6. **A placebo for the all-rows bias** (`spanRewards`), only when the all-rows estimate says
///    frozen is significantly worse and the held-out one does not confirm it. The held-out
///    estimate cannot see a reward that lives in one or two episodes (a fold either lacks those
///    rows, or the policies valued on it were fitted without them): on CliffWalking with a bonus
///    outside the span (gym_check seeds 3 and 4) it said frozen was better by 1.1 and 1.3 while
///    scratch was optimal and frozen 22.8 from it. The all-rows estimate sees it but is biased
///    toward scratch. The placebo measures that bias on the same rows: the whole comparison
///    (same folds, same ridges) is repeated with the task's reward replaced by its projection on
///    the frozen span, a task like this one whose reward the frozen span holds. Scratch when
///    the excess, (frozen - scratch) minus the placebo's (frozen - scratch) row by row, is
///    significantly negative (c SE, clustered by episode) and more negative than `placeboShare`
///    of the all-rows difference (most of it is not the bias). On MountainCar's data-poor task
///    inside the span the placebo reproduced 78% of the all-rows difference (-2.35; excess
///    -0.52 +- 0.17), and frozen was the better policy.
/// 7. **What the call rests on** (`Basis`, `Evidence`): the rule that decided, and whether the
///    estimated policy values decided it (`significant`: points 3 and 6, or frozen significantly
///    better (c SE) on either model, the all-rows one being biased toward scratch, and
///    significantly worse on neither), or did not settle it, so that the call rests on the span
///    test or the default (`inconclusive`, with a warning on stderr), or one
///    method could not be used at all (`forced`). With it, the task's episodes and those that say anything about values
///    (a reward other than the task's most common one, or a terminal state). On the gymnasium
///    families (tools/GYM_RESULTS.md, 91 held-out tasks over eleven seeds) all 14 significant
///    calls agreed with the environment, the inconclusive ones on 70 of 77: there the two policies
///    are either about equally good or the data too few to separate them, and the warning says
///    so.
enum PolicyComparison {
  static let crossFitStream = "fit/crossfit"
  static let foldCount = 5
  /// Standard errors of the paired difference that make frozen "significantly worse".
  static let significance = 2.0
  /// Standard errors by which the held-out difference must confirm it.
  static let confirmation = 1.0
  /// The level of the reward span test.
  static let rewardSpanLevel = 0.05
  /// The share of the all-rows difference that must remain beyond the placebo (point 6).
  static let placeboShare = 0.5

  /// The rule that made the call (head.h5 `recommendation_basis`, `--json` `basis`).
  enum Basis: String, Sendable {
    /// The frozen features are zero on every row of the task.
    case featuresVanish = "features_vanish"
    /// The reward span test: the frozen span holds no more of the reward than chance.
    case rewardSpan = "reward_span"
    /// No frozen head could be fitted (every candidate ridge diverged), or the final one diverged.
    case frozenFailed = "frozen_failed"
    /// No scratch fit could be evaluated, or the final one diverged.
    case scratchFailed = "scratch_failed"
    /// Frozen significantly worse on all rows, confirmed held out; or frozen significantly
    /// better on either model and significantly worse on neither.
    case valueEstimates = "value_estimates"
    /// Frozen significantly worse beyond the placebo (point 6).
    case placebo
    /// No estimate showed frozen worse: the simpler model.
    case noSignificantDifference = "no_significant_difference"
  }

  /// Episodes that say something about values (point 7).
  struct InformativeEpisodes: Sendable, Equatable {
    var informative: Int
    var episodes: Int
  }

  /// How far the estimated policy values carried the call (point 7).
  enum Evidence: String, Sendable {
    /// One method could not be used (no frozen features, a fit that failed).
    case forced
    /// The value estimates decided (points 3 and 6, or frozen significantly better).
    case significant
    /// The value estimates did not separate the policies: the span test or the default.
    case inconclusive

    init(_ basis: Basis) {
      switch basis {
      case .featuresVanish, .frozenFailed, .scratchFailed: self = .forced
      case .valueEstimates, .placebo: self = .significant
      case .rewardSpan, .noSignificantDifference: self = .inconclusive
      }
    }
  }

  /// Point 7 on `task` (the fitted rows): an episode is informative when one of its rows has a
  /// reward other than the task's most common reward (the smallest such value on a tie) or a
  /// termination. Rows without episode ids count one episode each.
  static func informativeEpisodes(_ task: TaskTransitions) -> InformativeEpisodes {
    var counts: [Double: Int] = [:]
    for r in task.rewards { counts[r, default: 0] += 1 }
    let common = counts.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }?.key
    var all = Set<Int64>()
    var informative = Set<Int64>()
    for row in 0..<task.count {
      let episode = row < task.episodes.count ? task.episodes[row] : Int64(-1 - row)
      all.insert(episode)
      if task.rewards[row] != common || task.terminations[row] != 0 { informative.insert(episode) }
    }
    return InformativeEpisodes(informative: informative.count, episodes: all.count)
  }

  /// The held-out rows of each fold (indices into `task`'s rows, ascending). Fewer than two
  /// episodes: one fold, `ModelSelection.split`'s held-out rows.
  static func folds(_ task: TaskTransitions, seed: UInt64) -> [[Int]] {
    var episodes: [Int64] = []
    var seen = Set<Int64>()
    for id in task.episodes where seen.insert(id).inserted { episodes.append(id) }
    guard episodes.count >= 2 else {
      return [ModelSelection.split(task, seed: seed, index: 0).heldOut]
    }
    episodes.sort()
    var generator = Xoshiro256StarStar(seed: seed, stream: crossFitStream)
    for i in stride(from: episodes.count - 1, to: 0, by: -1) {
      let j = Int(generator.next() % UInt64(i + 1))
      episodes.swapAt(i, j)
    }
    let count = min(foldCount, episodes.count)
    var foldOf: [Int64: Int] = [:]
    for (i, id) in episodes.enumerated() { foldOf[id] = i % count }
    var folds = [[Int]](repeating: [], count: count)
    for row in 0..<task.count {
      if let fold = foldOf[task.episodes[row]] { folds[fold].append(row) }
    }
    return folds
  }

  /// The rows of `rows` in the order `RegressionData.build` lays them out: as given for
  /// `.pairs`, grouped by action (stable) for `.blocks`.
  static func layoutOrder(_ rows: [Int], task: TaskTransitions, map: FeatureMap) -> [Int] {
    guard case .actionBlocks = map.structure else { return rows }
    let start = map.actionStart
    var byAction = [[Int]](repeating: [], count: map.actionCount)
    for row in rows { byAction[Int(task.actions[row] - start)].append(row) }
    return byAction.flatMap { $0 }
  }

  /// V_pi(s_i) = Q_pi(s_i, pi(s_i)) at every row of `points` (layout order), each clipped to
  /// the evaluator's range: pi is the greedy policy of `theta`, Q_pi its LSTD-Q solution on
  /// `evaluator.data`; and how far that Q_pi leaves the range on `evaluator.data`
  /// (`LSTDQEvaluation.rangeExcess`: above 0.5 the values are not to be trusted).
  static func stateValues(
    _ evaluator: LSTDQEvaluation, theta: [Double], points: RegressionData
  ) throws(LinearAlgebraError) -> (values: [Double], excess: Double) {
    let solution = try evaluator.value(of: theta).theta
    let excess = try evaluator.rangeExcess(solution)
    switch points.layout {
    case .pairs(let pairs, _, let features, let states, let actions):
      let policy = try LSTDQEvaluation.greedyStates(
        theta, features: features, states: states, actions: actions)
      let qPi = try features.values(solution)
      let values = pairs.map { pair in
        let s = Int(pair) / actions
        return evaluator.clip(qPi[s * actions + policy[s]])
      }
      return (values, excess)
    case .blocks(let phi, _, _, let m):
      let actions = phi.count
      let candidate = Matrix(rows: m, columns: actions, columnMajor: theta)
      let evaluated = Matrix(rows: m, columns: actions, columnMajor: solution)
      var values: [Double] = []
      for block in phi where block.rows > 0 {
        let q = try LinearAlgebra.gemm(block, candidate)
        let v = try LinearAlgebra.gemm(block, evaluated)
        for i in 0..<block.rows {
          let a = LSTDQEvaluation.argmax(q, row: i, actions: actions)
          values.append(evaluator.clip(v.storage[i + a * block.rows]))
        }
      }
      return (values, excess)
    }
  }

  /// The mean of paired differences and its standard error clustered by unit (episode):
  /// SE^2 = U / (U - 1) sum_u (sum_{i in u} (d_i - mean))^2 / n^2. With one unit the SE is
  /// infinite (nothing is significant).
  struct Paired: Sendable, Equatable {
    var mean: Double
    var standardError: Double
    var units: Int

    init(_ differences: [Double], units: [Int64]) {
      let n = Double(max(differences.count, 1))
      mean = differences.reduce(0, +) / n
      var sums: [Int64: Double] = [:]
      for (d, unit) in zip(differences, units) { sums[unit, default: 0] += d - mean }
      self.units = sums.count
      guard sums.count >= 2 else {
        standardError = .infinity
        return
      }
      let u = Double(sums.count)
      let squares = sums.sorted { $0.key < $1.key }.reduce(0.0) { $0 + $1.value * $1.value }
      standardError = (u / (u - 1) * squares).squareRoot() / n
    }

    /// The multiple of the standard error that makes a difference significant.
    var criticalValue: Double { PolicyComparison.criticalValue(units: units) }

    /// Frozen (the minuend) is significantly worse than scratch.
    var frozenSignificantlyWorse: Bool {
      mean + criticalValue * standardError < 0
    }

    /// Frozen (the minuend) is significantly better than scratch.
    var frozenSignificantlyBetter: Bool {
      mean - criticalValue * standardError > 0
    }

    /// Frozen is worse by more than `confirmation` standard errors: what the unbiased
    /// held-out estimate must give (see `PolicyComparison`, point 3).
    var frozenWorseConfirmed: Bool {
      mean + PolicyComparison.confirmation * standardError < 0
    }
  }

  /// max(`significance`, t_{0.975}(units - 1)): the critical value of a difference whose
  /// standard error is clustered over `units` episodes (point 3); infinite below two units.
  static func criticalValue(units: Int) -> Double {
    guard units >= 2 else { return .infinity }
    return max(significance, studentQuantile(0.975, degreesOfFreedom: Double(units - 1)))
  }

  /// The p quantile (p in (0.5, 1)) of Student's t with `nu` degrees of freedom, by bisection
  /// on its distribution function P(T <= t) = 1 - I_{nu / (nu + t^2)}(nu / 2, 1 / 2) / 2
  /// (t >= 0), to about 1e-12.
  static func studentQuantile(_ p: Double, degreesOfFreedom nu: Double) -> Double {
    func upperTail(_ t: Double) -> Double {
      0.5 * regularizedIncompleteBeta(nu / (nu + t * t), nu / 2, 0.5)
    }
    var low = 0.0
    var high = 1.0
    while upperTail(high) > 1 - p { high *= 2 }
    for _ in 0..<200 where high - low > 1e-12 * max(1, high) {
      let middle = (low + high) / 2
      if upperTail(middle) > 1 - p { low = middle } else { high = middle }
    }
    return (low + high) / 2
  }

  /// How much of the task's reward the frozen span holds, and whether that is more than chance.
  struct RewardSpan: Sendable, Equatable {
    /// 1 - min_w ||theta_r - B w||_G^2 / ||theta_r||_G^2, theta_r the ridge fit of the rewards
    /// on psi.
    var captured: Double
    /// k / p: the share a random k-dimensional subspace holds on average.
    var chance: Double
    /// P(Beta(k/2, (p-k)/2) >= captured).
    var pValue: Double

    var outsideSpan: Bool { pValue > PolicyComparison.rewardSpanLevel }
  }

  /// The reward span test on `problem` (the task's fitted rows, psi) for the frozen `b`. nil when
  /// it cannot say anything: no non-zero reward, or p <= k (any k-dimensional span then holds
  /// every reward vector).
  static func rewardSpan(_ problem: RegressionData, b: Matrix) throws(FQIError) -> RewardSpan? {
    let k = b.columns
    let p: Int
    switch problem.layout {
    case .pairs(let pairs, _, let features, _, _):
      p = min(Set(pairs).count, features.dimension)
    case .blocks(let phi, _, _, let m):
      p = phi.reduce(0) { $0 + min($1.rows, m) }
    }
    guard p > k, problem.rewards.contains(where: { $0 != 0 }) else { return nil }
    let theta = try rewardFit(problem)
    let captured = try HeadFitter.spanCaptured(theta, problem: problem, b: b)
    let a = Double(k) / 2
    let bShape = Double(p - k) / 2
    return RewardSpan(
      captured: captured, chance: Double(k) / Double(p),
      pValue: 1 - regularizedIncompleteBeta(captured, a, bShape))
  }

  /// theta_r, the (nearly unregularised) least-squares fit of the rewards on psi (the targets
  /// of a step without bootstrapping, as for `LSTDQEvaluation.pooled`'s reward model).
  static func rewardFit(_ problem: RegressionData) throws(FQIError) -> [Double] {
    do {
      return try problem.gram.ridgeSolve(
        try problem.rewardCross(), ridge: 1e-9 * max(problem.gram.meanDiagonal, Double.leastNormalMagnitude))
    } catch {
      throw .linearAlgebra(context: "reward span test", error: error)
    }
  }

  /// The placebo rewards of point 6: psi_i^T B w at every row of `problem` (layout order), B w
  /// the G-projection on the frozen span of the reward fit theta_r. A task with these rewards
  /// is the new task with its reward moved into the frozen span, on the same rows.
  static func spanRewards(_ problem: RegressionData, b: Matrix) throws(FQIError) -> [Double] {
    let projected = try HeadFitter.spanProjection(rewardFit(problem), problem: problem, b: b)
    do {
      return try problem.fittedValues(projected)
    } catch {
      throw .linearAlgebra(context: "placebo rewards", error: error)
    }
  }

  /// I_x(a, b), the Beta(a, b) distribution function, by its continued fraction (modified
  /// Lentz; Numerical Recipes 6.4), accurate to about 1e-14 for the shapes used here.
  static func regularizedIncompleteBeta(_ x: Double, _ a: Double, _ b: Double) -> Double {
    if !(x > 0) { return 0 }
    if x >= 1 { return 1 }
    let logNormalizer: Double = lgamma(a + b) - lgamma(a) - lgamma(b)
    let logPowers: Double = a * log(x) + b * log(1 - x)
    let front = exp(logNormalizer + logPowers)
    if x < (a + 1) / (a + b + 2) {
      return front * continuedFraction(x, a, b) / a
    }
    return 1 - front * continuedFraction(1 - x, b, a) / b
  }

  static func continuedFraction(_ x: Double, _ a: Double, _ b: Double) -> Double {
    let tiny = 1e-300
    var c = 1.0
    var d = 1 - (a + b) * x / (a + 1)
    if abs(d) < tiny { d = tiny }
    d = 1 / d
    var h = d
    for m in 1...500 {
      let m = Double(m)
      var aa = m * (b - m) * x / ((a - 1 + 2 * m) * (a + 2 * m))
      d = 1 + aa * d
      if abs(d) < tiny { d = tiny }
      c = 1 + aa / c
      if abs(c) < tiny { c = tiny }
      d = 1 / d
      h *= d * c
      aa = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 1 + 2 * m))
      d = 1 + aa * d
      if abs(d) < tiny { d = tiny }
      c = 1 + aa / c
      if abs(c) < tiny { c = tiny }
      d = 1 / d
      let delta = d * c
      h *= delta
      if abs(delta - 1) < 1e-15 { break }
    }
    return h
  }
}
