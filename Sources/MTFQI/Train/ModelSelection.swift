import Foundation

/// One row of the model-selection table (stored in model.h5 `/selection`, printed on stdout).
public struct SelectionCandidate: Sendable, Codable, Equatable {
  /// "multitask" or "single-task".
  public var method: String
  /// k (0 for single-task).
  public var rank: Int
  /// The absolute ridge (mean convention) and the same relative to the mean Gram diagonal.
  public var ridge: Double
  public var relativeRidge: Double
  public var headRidge: Double
  /// Where the multitask ridge sits: "factors" or "theta" (`FQIParameters.RidgeForm`); the
  /// single-task baseline's ridge is on theta.
  public var ridgeForm = "factors"
  /// FQI iterations the candidate was fitted with (fewer in the first rung of successive
  /// halving).
  public var iterations: Int
  /// Mean over tasks of the estimated value of the candidate's greedy policy on the held-out
  /// episodes (LSTD-Q on psi, `LSTDQEvaluation`).
  public var score: Double
  /// Mean over tasks of the held-out Bellman error (RMS): reported, not used to choose.
  public var heldOutBellmanError: Double
  /// The largest over tasks of how far the estimate's Q^pi leaves the rewards' value range on
  /// the evaluation rows, relative to the range's width (`LSTDQEvaluation.rangeExcess`):
  /// above `ModelSelection.unreliableExcess` the estimate is not trusted (a warning).
  public var valueRangeExcess: Double = .nan
  /// Mean over tasks of the share of the task's start states whose estimated Q^pi lay outside
  /// the value range (by more than `LSTDQEvaluation.saturationMargin` of its width) before
  /// clipping (`LSTDQEvaluation.Estimate.saturated`): above `ModelSelection.unreliableExcess`
  /// the score is mostly the clip's, and the estimate is not trusted.
  public var saturatedStarts: Double = .nan
  /// True for the row `ModelSelection.fallback` added because no estimate was reliable.
  public var fallback = false
  public var chosen: Bool

  /// Its estimate may be used to rank it: it was scored, its `valueRangeExcess` is at most
  /// `ModelSelection.unreliableExcess`, and at most that share of its start values was clipped.
  public var isReliable: Bool {
    score.isFinite && valueRangeExcess.isFinite
      && valueRangeExcess <= ModelSelection.unreliableExcess
      && !(saturatedStarts > ModelSelection.unreliableExcess)
  }

  enum CodingKeys: String, CodingKey {
    case method, rank, ridge, score, chosen, iterations
    case relativeRidge = "relative_ridge"
    case headRidge = "head_ridge"
    case heldOutBellmanError = "held_out_bellman_error"
    case valueRangeExcess = "value_range_excess"
    case ridgeForm = "ridge_form"
    case saturatedStarts = "saturated_start_share"
    case fallback
  }

  /// Non-finite numbers (a candidate that failed) are written as null: JSON has no NaN.
  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(method, forKey: .method)
    try c.encode(rank, forKey: .rank)
    try c.encode(ridge, forKey: .ridge)
    try c.encode(relativeRidge, forKey: .relativeRidge)
    try c.encode(headRidge, forKey: .headRidge)
    try c.encode(ridgeForm, forKey: .ridgeForm)
    try c.encode(iterations, forKey: .iterations)
    try c.encodeIfPresent(score.isFinite ? score : nil, forKey: .score)
    try c.encodeIfPresent(
      heldOutBellmanError.isFinite ? heldOutBellmanError : nil, forKey: .heldOutBellmanError)
    try c.encodeIfPresent(
      valueRangeExcess.isFinite ? valueRangeExcess : nil, forKey: .valueRangeExcess)
    try c.encodeIfPresent(saturatedStarts.isFinite ? saturatedStarts : nil, forKey: .saturatedStarts)
    try c.encode(fallback, forKey: .fallback)
    try c.encode(chosen, forKey: .chosen)
  }

  public init(
    method: String, rank: Int, ridge: Double, relativeRidge: Double, headRidge: Double,
    iterations: Int, score: Double, heldOutBellmanError: Double, chosen: Bool
  ) {
    self.method = method
    self.rank = rank
    self.ridge = ridge
    self.relativeRidge = relativeRidge
    self.headRidge = headRidge
    self.iterations = iterations
    self.score = score
    self.heldOutBellmanError = heldOutBellmanError
    self.chosen = chosen
  }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    method = try c.decode(String.self, forKey: .method)
    rank = try c.decode(Int.self, forKey: .rank)
    ridge = try c.decode(Double.self, forKey: .ridge)
    relativeRidge = try c.decode(Double.self, forKey: .relativeRidge)
    headRidge = try c.decode(Double.self, forKey: .headRidge)
    ridgeForm = try c.decodeIfPresent(String.self, forKey: .ridgeForm) ?? "factors"
    saturatedStarts = try c.decodeIfPresent(Double.self, forKey: .saturatedStarts) ?? .nan
    fallback = try c.decodeIfPresent(Bool.self, forKey: .fallback) ?? false
    iterations = try c.decode(Int.self, forKey: .iterations)
    score = try c.decodeIfPresent(Double.self, forKey: .score) ?? -.infinity
    heldOutBellmanError = try c.decodeIfPresent(Double.self, forKey: .heldOutBellmanError) ?? .nan
    valueRangeExcess = try c.decodeIfPresent(Double.self, forKey: .valueRangeExcess) ?? .nan
    chosen = try c.decode(Bool.self, forKey: .chosen)
  }
}

/// Settings the user left on `auto`, chosen by the estimated value of each candidate's greedy
/// policy on held-out episodes.
///
/// Each task's episodes are split (seeded, stream `selectionStream`): `heldOutFraction` of
/// them (at least one, at most all but one; the last rows when a task has a single episode) are
/// held out. Every candidate is fitted on the rest (the Gram matrices are computed once and
/// shared by all candidates) and scored by `LSTDQEvaluation.pooled` (LSTD-Q on the base
/// features with the dynamics pooled over every task's logged transitions and the task's own
/// reward model, a closed-form solve per task; see `prepare` for why every row, and
/// `dynamicsRows` for the cap on large stores), from the first states of the task's
/// episodes. The held-out episodes give the held-out Bellman error (reported, not used to
/// choose). The reliable candidate (`SelectionCandidate.isReliable`: its Q^pi stays near the
/// value range on the logged rows and the clip did not decide its start values) with the
/// highest mean estimated value wins (ties: the earlier candidate, i.e. the smaller rank and
/// the stronger ridge). When no full fit is reliable the estimates rank nothing: `fallback`
/// (the single-task fits with the strongest ridge, shared at rank min(T, D)) is fitted, added
/// to the table and chosen. The final model is then fitted on all the data.
///
/// Candidates: ranks 1, 2, 4, ... up to min(T, D) (and min(T, D) itself) when the rank is
/// auto; relative ridges `relativeRidges` times the mean Gram diagonal (the features' mean
/// second moment) when the ridge is auto; the head ridge equals the ridge. Successive halving:
/// with more than `survivors` candidates, each is first screened (a fifth of the iterations,
/// on `FeatureSelection.subsample` of the training rows, ALS stopped at `screeningSweeps` or
/// `screeningTolerance`) and only the best `survivors` are fitted with all iterations on all
/// training rows to the certified tolerance (the table lists both rungs). The single-task
/// baseline's ridge is chosen from the same ridges by its own score, with the same halving
/// (`singleTaskSurvivors`), its fits pooled with the multitask ones rung by rung (`halving`).
///
/// Cost: the candidates of a rung are independent and fitted concurrently (`Parallel.map`,
/// one BLAS thread each), their results taken in grid order, so the table and the choice do
/// not depend on scheduling. On the 200k-transition MountainCar store (8 goals, Fourier 64/1)
/// the whole automatic selection (feature map, rank and ridge, single-task ridge) takes
/// about 4.5x one fit at the chosen settings (BENCHMARKS.md).
enum ModelSelection {
  static let selectionStream = "train/selection"
  static let heldOutFraction = 0.2
  static let relativeRidges = [1e-5, 1e-3, 1e-1]
  /// Candidates kept for the full iterations after the first rung.
  static let survivors = 3
  /// The single-task baseline's ridges kept after its first rung (of three).
  static let singleTaskSurvivors = 2
  /// The first rung screens: its fits stop each iteration's ALS after at most
  /// `screeningSweeps` sweeps or at relative gradient and objective change `screeningTolerance`
  /// (warm-started from the previous iteration, so the iterates still converge across
  /// iterations). Only the ranking of the first rung depends on it; the survivors, and the
  /// final model, are fitted to the certified tolerance.
  static let screeningSweeps = 10
  static let screeningTolerance = 1e-4
  /// The most transitions the pooled dynamics of the estimator use (`dynamicsRows`).
  static let dynamicsRowCap = 65_536
  static let dynamicsStream = "train/selection/dynamics"
  /// The LSTD-Q ridge, relative to the evaluation data's mean Gram diagonal (as
  /// `LSTDQEvaluation.relativeRidge`; kept for callers).
  static let evaluationRidge = LSTDQEvaluation.relativeRidge
  /// Above this `valueRangeExcess` the chosen candidate's estimate is reported as unreliable
  /// (half the value range outside it; the gym families' chosen candidates and fits stay at or
  /// below 0.19, CartPole's were 1.75 and more).
  static let unreliableExcess = 0.5

  struct Result {
    var rank: Int
    var ridge: Double
    var ridgeForm = FQIParameters.RidgeForm.factors
    var headRidge: Double
    var singleTaskRidge: Double?
    var table: [SelectionCandidate]
    var seconds: Double
    /// `loggedReturn` of the tasks: what the logging policy earned, to read the estimates
    /// against (NaN without episode ids).
    var loggedReturn = Double.nan
    /// theta_t of every candidate (index as in `table`; empty when it failed): for tests.
    var candidateThetas: [[[Double]]] = []
  }

  /// The warning for a choice that rests on estimates outside the rewards' value range: the
  /// chosen multitask candidate's `valueRangeExcess` above `unreliableExcess`; nil otherwise.
  static func unreliableWarning(_ table: [SelectionCandidate]) -> String? {
    guard let chosen = table.first(where: { $0.chosen && $0.method == "multitask" }) else {
      return nil
    }
    if chosen.fallback {
      let others = table.filter { $0.method == "multitask" && !$0.fallback }
      let excess = others.map(\.valueRangeExcess).filter(\.isFinite).min()
      let saturated = others.map(\.saturatedStarts).filter(\.isFinite).min()
      return "model selection: no candidate's value estimate is reliable on these data (each one's Q^pi leaves the rewards' value range by more than \(NumberText.fourDigits(unreliableExcess)) of its width on the logged transitions, or lies outside it at more than half of the start states, so that the clip decides the estimate; least excess \(excess.map(NumberText.fourDigits) ?? "-"), least share of clipped starts \(saturated.map(NumberText.fourDigits) ?? "-"): LSTD-Q extrapolates off the data), so the candidates were not ranked by them: the model falls back to rank \(chosen.rank) with the strongest candidate ridge \(NumberText.fourDigits(chosen.ridge)) on \(chosen.ridgeForm == "theta" ? "each task's theta (the single-task fits, shared as a representation)" : "the factors"); check the greedy policies in the environment, or compare fixed settings (--rank, --ridge, --ridge-form)"
    }
    guard chosen.valueRangeExcess > unreliableExcess else { return nil }
    return "model selection: the value estimates that chose rank \(chosen.rank) and ridge \(NumberText.fourDigits(chosen.ridge)) are unreliable on these data: their Q^pi leaves the rewards' value range by \(NumberText.fourDigits(chosen.valueRangeExcess)) times its width on the logged transitions (LSTD-Q extrapolates off the data), so the ranking of the candidates may be wrong; check the greedy policies in the environment, or compare fixed settings (--rank, --ridge)"
  }

  /// The same for the Fourier map selection: the chosen map's excess above `unreliableExcess`.
  static func unreliableWarning(_ table: [FeatureCandidate]) -> String? {
    guard let chosen = table.last(where: \.chosen), chosen.valueRangeExcess > unreliableExcess
    else { return nil }
    return "feature-map selection: the value estimates that chose m = \(chosen.fourierFeatures) and bandwidth \(NumberText.fourDigits(chosen.bandwidth)) are unreliable on these data: their Q^pi leaves the rewards' value range by \(NumberText.fourDigits(chosen.valueRangeExcess)) times its width on the held-out transitions, so the ranking of the maps may be wrong; compare fixed maps (--fourier-features, --bandwidth) in the environment"
  }

  /// Row indices per task: (training, held out).
  static func split(_ task: TaskTransitions, seed: UInt64, index: Int) -> (
    training: [Int], heldOut: [Int]
  ) {
    let n = task.count
    var episodes: [Int64] = []
    var seen = Set<Int64>()
    for id in task.episodes where seen.insert(id).inserted { episodes.append(id) }
    if episodes.count < 2 {
      let held = max(1, Int((heldOutFraction * Double(n)).rounded()))
      let cut = max(n - held, 1)
      return (Array(0..<cut), Array(cut..<n))
    }
    episodes.sort()
    var generator = Xoshiro256StarStar(seed: seed, stream: selectionStream, index: UInt64(index))
    for i in stride(from: episodes.count - 1, to: 0, by: -1) {
      let j = Int(generator.next() % UInt64(i + 1))
      episodes.swapAt(i, j)
    }
    let count = min(
      max(1, Int((heldOutFraction * Double(episodes.count)).rounded())), episodes.count - 1)
    let held = Set(episodes.prefix(count))
    var training: [Int] = []
    var heldOut: [Int] = []
    for row in 0..<n {
      if held.contains(task.episodes[row]) { heldOut.append(row) } else { training.append(row) }
    }
    return (training, heldOut)
  }

  /// The held-out rows that start an episode (the smallest step of each held-out episode); all
  /// held-out rows when episodes are not known.
  static func startRows(_ task: TaskTransitions, _ rows: [Int]) -> [Int] {
    guard !task.episodes.isEmpty else { return rows }
    var first: [Int64: Int] = [:]
    for row in rows {
      let id = task.episodes[row]
      if let current = first[id], task.steps[current] <= task.steps[row] { continue }
      first[id] = row
    }
    return first.values.sorted()
  }

  /// What every candidate is fitted on and judged by.
  struct Prepared: Sendable {
    /// The candidates' training problems (the training split of every task).
    var problems: [[RegressionData]]
    /// The first rung's problems: `FeatureSelection.subsample` of every task's training rows
    /// (the same rows the feature selection screens on; `problems` itself when that keeps
    /// every row).
    var screeningProblems: [[RegressionData]]
    /// Per task: the pooled LSTD-Q estimator (`evaluators`).
    var evaluators: [LSTDQEvaluation]
    /// Per task: its held-out rows (for the held-out Bellman error column).
    var heldOut: [RegressionData]
    /// The mean Gram diagonal of the training problems (the ridges' scale).
    var scale: Double
  }

  /// Splits every task, builds the candidates' training problems, and the estimator of each
  /// task's greedy-policy value: LSTD-Q with pooled dynamics (`LSTDQEvaluation.pooled`) on
  /// every logged transition of every task, the task's reward model from all of its rows, and
  /// the first states of all of its episodes as starts.
  ///
  /// Why every row and not only the held-out ones: in the data-poor regime a task logs a
  /// handful of rewarded transitions (the 200-transition four-rooms grid: 0-6 per task), so a
  /// 20% split holds out 0-2 of them and scored 10 of 12 candidates exactly 0 (cross-fitting
  /// over 5 folds did no better: each fold still holds ~1 reward). The tasks share their
  /// dynamics, so the transition part of the estimate pools every task's rows (T times one
  /// task's data), and the rewards are the task's own. This is fitted Q evaluation on the
  /// logged data, as in Paine et al. (2020), with the dynamics shared between tasks; the
  /// candidates themselves are still fitted on the training split, and the held-out Bellman
  /// error is still measured on the held-out episodes.
  ///
  /// `allRows`, when the caller has them, are every task's problem on all of its rows (what
  /// the final discounted fit uses): they are the reward models' data, not built again.
  static func prepare(
    _ tasks: [TaskTransitions], featureMap: FeatureMap, config: TrainConfig,
    allRows: [RegressionData]? = nil
  ) throws(FQIError) -> Prepared {
    var trainingSets: [TaskTransitions] = []
    var trainingRows: [[Int]] = []
    var heldOutSets: [(task: TaskTransitions, rows: [Int]?)] = []
    var startSets: [(task: TaskTransitions, rows: [Int]?)] = []
    for (index, task) in tasks.enumerated() {
      let (training, heldOut) = split(task, seed: config.seed, index: index)
      trainingRows.append(training)
      trainingSets.append(task.selecting(training))
      heldOutSets.append((task, heldOut))
      startSets.append((task, startRows(task, Array(0..<task.count))))
    }
    let problems = try RegressionData.problems(trainingSets, featureMap: featureMap, config: config)
    var screeningProblems = problems
    let screeningRows = trainingRows.indices.map {
      FeatureSelection.subsample(trainingRows[$0], seed: config.seed, index: $0)
    }
    if zip(screeningRows, trainingSets).contains(where: { $0.count < $1.count }) {
      screeningProblems = try RegressionData.problems(
        tasks.indices.map { tasks[$0].selecting(screeningRows[$0]) }, featureMap: featureMap,
        config: config)
    }
    let base = config.parameters
    let gamma = config.resolvedGamma
    do {
      let heldOut = try RegressionData.build(heldOutSets, featureMap: featureMap, discount: gamma)
      let starts = try RegressionData.build(startSets, featureMap: featureMap, discount: gamma)
      let own: [RegressionData]
      if let allRows {
        own = allRows
      } else {
        own = try RegressionData.build(
          tasks.map { ($0, nil) }, featureMap: featureMap, discount: gamma)
      }
      let pool = TaskTransitions.pooled(
        tasks.indices.map { (tasks[$0], dynamicsRows(tasks, task: $0, seed: config.seed)) },
        name: "pooled")
      let dynamics = try RegressionData.build([(pool, nil)], featureMap: featureMap, discount: gamma)[0]
      // Shared by every task's evaluator: the policy-independent sums of the cross terms.
      let totals = try LSTDQEvaluation.crossTotals(dynamics)
      var evaluators: [LSTDQEvaluation] = []
      for t in tasks.indices {
        var low = Double.infinity
        var high = -Double.infinity
        for r in tasks[t].rewards {
          low = min(low, r)
          high = max(high, r)
        }
        evaluators.append(
          try LSTDQEvaluation.pooled(
            dynamics: dynamics, rewards: own[t], starts: starts[t],
            range: base.valueRange(step: 0, rewardRange: low <= high ? low...high : 0...0),
            crossTotals: totals))
      }
      var scale = 0.0
      for problem in problems[0] { scale += problem.gram.meanDiagonal }
      scale = max(scale / Double(max(problems[0].count, 1)), Double.leastNormalMagnitude)
      return Prepared(
        problems: problems, screeningProblems: screeningProblems, evaluators: evaluators,
        heldOut: heldOut, scale: scale)
    } catch {
      throw .linearAlgebra(context: "model selection data", error: error)
    }
  }

  /// The rows of task `task` that enter the pooled dynamics: all of them when every task's
  /// rows together are at most `dynamicsRowCap`, otherwise a seeded uniform subsample (stream
  /// `dynamicsStream`) of the same share of every task's rows, ascending. LSTD-Q's cost is
  /// linear in these rows for every candidate and task; `dynamicsRowCap` transitions estimate
  /// the shared dynamics' second moments well beyond the estimator's other errors (the starts
  /// and the task's own reward model, which keep all rows).
  static func dynamicsRows(_ tasks: [TaskTransitions], task: Int, seed: UInt64) -> [Int] {
    let total = tasks.reduce(0) { $0 + $1.count }
    let count = tasks[task].count
    guard total > dynamicsRowCap else { return Array(0..<count) }
    let kept = Int((Double(count) * Double(dynamicsRowCap) / Double(total)).rounded(.down))
    var rows = Array(0..<count)
    var generator = Xoshiro256StarStar(seed: seed, stream: dynamicsStream, index: UInt64(task))
    for i in 0..<min(kept, count) {
      let j = i + Int(generator.next() % UInt64(count - i))
      rows.swapAt(i, j)
    }
    return rows.prefix(max(kept, 1)).sorted()
  }

  /// One multitask candidate's settings.
  struct Setting: Sendable, Equatable {
    var rank: Int
    var ridge: Double
    var form: FQIParameters.RidgeForm
  }

  /// The multitask candidates: every rank times every ridge, in the given ridge form (auto:
  /// on the factors; the ridge on theta is auto's `fallback`).
  static func settings(config: TrainConfig, ranks: [Int], ridges: [Double]) -> [Setting] {
    let form: FQIParameters.RidgeForm = config.ridgeFormAuto ? .factors : config.ridgeForm
    return ranks.flatMap { rank in ridges.map { Setting(rank: rank, ridge: $0, form: form) } }
  }

  /// The multitask setting used when no candidate's estimate is reliable: what assumes the
  /// least about the tasks sharing anything and extrapolates the least. The largest rank
  /// (min(T, D)), the strongest candidate ridge, on theta: the single-task ridge fits of every
  /// task, shared as a rank-min(T, D) representation. A setting the user fixed stays fixed.
  static func fallback(config: TrainConfig, ranks: [Int], ridges: [Double]) -> Setting {
    Setting(
      rank: ranks.max() ?? config.rank, ridge: ridges.max() ?? config.ridge,
      form: config.ridgeFormAuto ? .theta : config.ridgeForm)
  }

  /// The candidate ranks (1, 2, 4, ... and min(T, D)) and ridges (strongest first).
  static func grid(config: TrainConfig, tasks: Int, dimension: Int, scale: Double) -> (
    ranks: [Int], ridges: [Double]
  ) {
    var ranks: [Int] = [config.rank]
    if config.rankAuto {
      let ceiling = min(tasks, dimension)
      ranks = []
      var r = 1
      while r < ceiling {
        ranks.append(r)
        r *= 2
      }
      ranks.append(ceiling)
    }
    let ridges: [Double] =
      config.ridgeAuto ? relativeRidges.reversed().map { $0 * scale } : [config.ridge]
    return (ranks, ridges)
  }

  /// Mean over tasks of the estimated value and of the held-out Bellman error, the largest over
  /// tasks of the estimate's value-range excess (`LSTDQEvaluation.rangeExcess`), and the mean
  /// over tasks of the share of start values the clip decided (`LSTDQEvaluation.Estimate`).
  static func score(_ thetas: [[Double]], _ prepared: Prepared) throws(FQIError) -> (
    value: Double, bellman: Double, excess: Double, saturated: Double
  ) {
    var value = 0.0
    var bellman = 0.0
    var excess = 0.0
    var saturated = 0.0
    do {
      for (t, evaluator) in prepared.evaluators.enumerated() {
        let estimate = try evaluator.estimate(of: thetas[t])
        value += estimate.value
        saturated += estimate.saturated
        excess = max(excess, try evaluator.rangeExcess(estimate.theta))
        bellman += try heldOutBellmanError(prepared.heldOut[t], thetas[t])
      }
    } catch {
      throw .linearAlgebra(context: "model selection: policy evaluation", error: error)
    }
    let count = Double(max(prepared.evaluators.count, 1))
    return (value / count, bellman / count, excess, saturated / count)
  }

  /// Fits and scores one multitask candidate with `rounds` FQI iterations (a diverged fit
  /// scores -infinity and returns no thetas).
  static func multitaskCandidate(
    rank: Int, ridge: Double, form: FQIParameters.RidgeForm = .factors, rounds: Int,
    screening: Bool = false, prepared: Prepared,
    config: TrainConfig, names: [String], progress: (@Sendable (String) -> Void)?
  ) throws(FQIError) -> (SelectionCandidate, [[Double]]) {
    var parameters = config.parameters
    if screening {
      parameters.alsMaxSweeps = min(parameters.alsMaxSweeps, screeningSweeps)
      parameters.alsTolerance = max(parameters.alsTolerance, screeningTolerance)
    }
    parameters.rank = rank
    parameters.ridge = ridge
    parameters.headRidge = config.headRidgeAuto ? ridge : (config.headRidge ?? ridge)
    parameters.ridgeForm = form
    parameters.objective = .discounted(gamma: parameters.gamma, iterations: rounds)
    let runner = FittedQIteration(parameters: parameters, taskNames: names)
    var candidate = SelectionCandidate(
      method: "multitask", rank: rank, ridge: ridge, relativeRidge: ridge / prepared.scale,
      headRidge: parameters.headRidge, iterations: rounds, score: -.infinity,
      heldOutBellmanError: .nan, chosen: false)
    candidate.ridgeForm = form.rawValue
    var thetas: [[Double]] = []
    do throws(FQIError) {
      let fit = try runner.multitask(screening ? prepared.screeningProblems : prepared.problems)
      let product: Matrix
      do {
        product = try RankKSolver.thetas(fit.representations[0], fit.heads[0])
      } catch {
        throw .linearAlgebra(context: "B W", error: error)
      }
      thetas = (0..<names.count).map { product.column($0) }
      let result = try score(thetas, prepared)
      candidate.score = result.value
      candidate.heldOutBellmanError = result.bellman
      candidate.valueRangeExcess = result.excess
      candidate.saturatedStarts = result.saturated
    } catch {
      guard case .diverged = error else { throw error }
    }
    progress?(
      "selection: multitask k = \(rank), ridge \(NumberText.fourDigits(ridge)) on \(form), \(rounds) iterations: estimated value \(NumberText.fourDigits(candidate.score))"
    )
    return (candidate, thetas)
  }

  /// Fits and scores the single-task baseline at `ridge` with `rounds` FQI iterations, on the
  /// screening rows when `screening` (a diverged fit scores -infinity and returns no thetas).
  static func singleTaskCandidate(
    ridge: Double, rounds: Int, screening: Bool, prepared: Prepared, config: TrainConfig,
    names: [String]
  ) throws(FQIError) -> (SelectionCandidate, [[Double]]) {
    var parameters = config.parameters
    parameters.ridge = ridge
    parameters.objective = .discounted(gamma: parameters.gamma, iterations: rounds)
    var runner = FittedQIteration(parameters: parameters, taskNames: names)
    runner.method = "single-task"
    var candidate = SelectionCandidate(
      method: "single-task", rank: 0, ridge: ridge, relativeRidge: ridge / prepared.scale,
      headRidge: ridge, iterations: rounds, score: -.infinity, heldOutBellmanError: .nan,
      chosen: false)
    candidate.ridgeForm = FQIParameters.RidgeForm.theta.rawValue
    var thetas: [[Double]] = []
    do throws(FQIError) {
      let fit = try runner.singleTask(
        screening ? prepared.screeningProblems : prepared.problems, ridge: ridge)
      thetas = (0..<names.count).map { fit.thetas[0].column($0) }
      let result = try score(thetas, prepared)
      candidate.score = result.value
      candidate.heldOutBellmanError = result.bellman
      candidate.valueRangeExcess = result.excess
      candidate.saturatedStarts = result.saturated
    } catch {
      guard case .diverged = error else { throw error }
    }
    return (candidate, thetas)
  }

  /// One set of settings for `halving`: `count` settings, of which the best `keep` are fitted
  /// in full after the first rung; `fit(index, rounds, screening)` fits and scores one.
  struct HalvingArm: Sendable {
    var count: Int
    var keep: Int
    var fit: @Sendable (_ index: Int, _ rounds: Int, _ screening: Bool) throws(FQIError) -> (
      SelectionCandidate, [[Double]]
    )
  }

  /// Successive halving over each arm's settings, the arms' fits of one rung run together
  /// (`Parallel.map`, one BLAS thread each, results taken in arm then setting order, so nothing
  /// depends on the scheduling; pooling the arms keeps both cores busy when a rung of one arm
  /// has an odd number of fits). In an arm with more than `keep` settings and at least 10
  /// iterations, every setting is first screened with a fifth of the iterations (at least 5)
  /// and only the best `keep` (stable: equal scores keep the grid order) are fitted with all of
  /// them. Best means reliable first (`SelectionCandidate.isReliable`), then the highest
  /// score. Each arm's rows (its first rung, then its full fits) are appended to `table` and
  /// their thetas to `thetas`, arm after arm; returns, per arm, the table index of its best full
  /// fit (reliable first, then the highest finite score; ties: the earlier setting), nil when
  /// none scored.
  static func halving(
    _ arms: [HalvingArm], iterations: Int, table: inout [SelectionCandidate],
    thetas: inout [[[Double]]]
  ) throws(FQIError) -> [Int?] {
    typealias Fitted = (SelectionCandidate, [[Double]])
    func run(_ jobs: [(arm: Int, index: Int)], rounds: Int, screening: Bool) throws(FQIError)
      -> [[Fitted]]
    {
      let results = try Parallel.map(jobs.count) { position throws(FQIError) in
        try arms[jobs[position].arm].fit(jobs[position].index, rounds, screening)
      }
      var byArm = [[Fitted]](repeating: [], count: arms.count)
      for (job, result) in zip(jobs, results) { byArm[job.arm].append(result) }
      return byArm
    }
    let screened = arms.map { $0.count > $0.keep && iterations >= 10 }
    var screeningJobs: [(arm: Int, index: Int)] = []
    for arm in arms.indices where screened[arm] {
      for index in 0..<arms[arm].count { screeningJobs.append((arm, index)) }
    }
    let first = try run(screeningJobs, rounds: max(5, iterations / 5), screening: true)
    var fullJobs: [(arm: Int, index: Int)] = []
    for arm in arms.indices {
      var finalists = Array(0..<arms[arm].count)
      if screened[arm] {
        let scores: [(index: Int, score: Double)] = first[arm].enumerated().map {
          ($0.offset, $0.element.0.score)
        }
        let reliable = first[arm].map { $0.0.isReliable }
        finalists = scores.sorted {
          (reliable[$0.index] && !reliable[$1.index])
            || (reliable[$0.index] == reliable[$1.index]
              && ($0.score > $1.score || ($0.score == $1.score && $0.index < $1.index)))
        }.prefix(arms[arm].keep).map(\.index).sorted()
      }
      for index in finalists { fullJobs.append((arm, index)) }
    }
    let full = try run(fullJobs, rounds: iterations, screening: false)
    var bests: [Int?] = []
    for arm in arms.indices {
      for (candidate, candidateThetas) in first[arm] {
        table.append(candidate)
        thetas.append(candidateThetas)
      }
      var best: (index: Int, score: Double, reliable: Bool)?
      for (candidate, candidateThetas) in full[arm] {
        let better =
          best.map {
            (candidate.isReliable && !$0.reliable)
              || (candidate.isReliable == $0.reliable
                && candidate.score > $0.score + 1e-12 * abs($0.score))
          } ?? true
        if candidate.score.isFinite, better {
          best = (table.count, candidate.score, candidate.isReliable)
        }
        table.append(candidate)
        thetas.append(candidateThetas)
      }
      bests.append(best?.index)
    }
    return bests
  }

  /// Chooses the settings `config` leaves on auto (discounted mode only): the multitask rank
  /// and ridge, and, with the single-task baseline on and the ridge on auto, the baseline's
  /// ridge from the same ridges by its own score (`singleTaskSurvivors` kept after the first
  /// rung). Both are halved together (`halving`).
  static func select(
    _ tasks: [TaskTransitions], featureMap: FeatureMap, config: TrainConfig,
    allRows: [RegressionData]? = nil, progress: (@Sendable (String) -> Void)?
  ) throws(FQIError) -> Result {
    let started = Date()
    let prepared = try prepare(tasks, featureMap: featureMap, config: config, allRows: allRows)
    let (ranks, ridges) = grid(
      config: config, tasks: tasks.count, dimension: featureMap.dimension, scale: prepared.scale)
    var table: [SelectionCandidate] = []
    var candidateThetas: [[[Double]]] = []
    let names = tasks.map(\.name)
    let iterations: Int
    if case .discounted(_, let k) = config.parameters.objective { iterations = k } else { iterations = 1 }
    let settings = settings(config: config, ranks: ranks, ridges: ridges)
    var arms = [
      HalvingArm(count: settings.count, keep: survivors) { index, rounds, screening throws(FQIError) in
        try multitaskCandidate(
          rank: settings[index].rank, ridge: settings[index].ridge, form: settings[index].form,
          rounds: rounds,
          screening: screening, prepared: prepared, config: config, names: names,
          progress: progress)
      }
    ]
    if config.singleTask && config.ridgeAuto {
      arms.append(
        HalvingArm(count: ridges.count, keep: singleTaskSurvivors) {
          index, rounds, screening throws(FQIError) in
          try singleTaskCandidate(
            ridge: ridges[index], rounds: rounds, screening: screening, prepared: prepared,
            config: config, names: names)
        })
    }
    let bests = try halving(
      arms, iterations: iterations, table: &table, thetas: &candidateThetas)
    guard let chosen = bests[0] else {
      throw .guardrail(
        "model selection: no candidate could be fitted and evaluated (ranks \(ranks), ridges \(ridges.map(NumberText.fourDigits))); give --rank and --ridge")
    }
    // No reliable estimate: rank nothing by them (`fallback`), for either arm. A fallback fit
    // that fails keeps the arm's best.
    func appendFallback(_ fitted: (SelectionCandidate, [[Double]]), else current: Int) -> Int {
      guard fitted.0.score.isFinite else { return current }
      var candidate = fitted.0
      candidate.fallback = true
      table.append(candidate)
      candidateThetas.append(fitted.1)
      return table.count - 1
    }
    var chosenIndex = chosen
    if !table[chosen].isReliable {
      let setting = fallback(config: config, ranks: ranks, ridges: ridges)
      chosenIndex = appendFallback(
        try multitaskCandidate(
          rank: setting.rank, ridge: setting.ridge, form: setting.form, rounds: iterations,
          prepared: prepared, config: config, names: names, progress: progress),
        else: chosen)
    }
    table[chosenIndex].chosen = true
    var singleTask: Double?
    if bests.count > 1, var best = bests[1] {
      if !table[best].isReliable, let strongest = ridges.max(), table[best].ridge != strongest {
        best = appendFallback(
          try singleTaskCandidate(
            ridge: strongest, rounds: iterations, screening: false, prepared: prepared,
            config: config, names: names),
          else: best)
      }
      table[best].chosen = true
      singleTask = table[best].ridge
    }
    let winner = table[chosenIndex]
    return Result(
      rank: winner.rank, ridge: winner.ridge,
      ridgeForm: FQIParameters.RidgeForm(rawValue: winner.ridgeForm) ?? .factors,
      headRidge: winner.headRidge,
      singleTaskRidge: singleTask, table: table,
      seconds: Date().timeIntervalSince(started),
      loggedReturn: loggedReturn(tasks, gamma: config.resolvedGamma),
      candidateThetas: candidateThetas)
  }

  /// The mean over tasks and their logged episodes of sum_j gamma^j r_j from each episode's
  /// first logged step (steps relative to it): the discounted return the logging policy earned
  /// from the same starts the estimates are taken at. A Monte Carlo value, biased low where
  /// episodes were truncated (their unlogged tail counts 0). NaN when no task has episode ids.
  static func loggedReturn(_ tasks: [TaskTransitions], gamma: Double) -> Double {
    var total = 0.0
    var count = 0
    for task in tasks where !task.episodes.isEmpty {
      var first: [Int64: Int64] = [:]
      for row in 0..<task.count {
        first[task.episodes[row]] = min(first[task.episodes[row]] ?? .max, task.steps[row])
      }
      var returns: [Int64: Double] = [:]
      for row in 0..<task.count {
        let id = task.episodes[row]
        let age = Double(task.steps[row] - (first[id] ?? 0))
        returns[id, default: 0] += pow(gamma, age) * task.rewards[row]
      }
      // In episode order: a Dictionary's order changes from run to run, and so would the sum.
      total += returns.keys.sorted().reduce(0) { $0 + (returns[$1] ?? 0) } / Double(max(returns.count, 1))
      count += 1
    }
    return count > 0 ? total / Double(count) : .nan
  }

  /// RMS over the rows of `data` of r + c max_a' Q(s', a') - Q(s, a) for Q = psi^T theta.
  static func heldOutBellmanError(_ data: RegressionData, _ theta: [Double])
    throws(LinearAlgebraError) -> Double
  {
    let target = try RegressionData.targetStatistics([data], nextThetas: [theta])[0]
    var dot = 0.0
    for i in 0..<theta.count { dot += theta[i] * target.cross[i] }
    let value = target.squares - 2 * dot + (try data.gram.quadratic(theta))
    return max(0, value).squareRoot()
  }
}
