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
  /// FQI iterations the candidate was fitted with (fewer in the first rung of successive
  /// halving).
  public var iterations: Int
  /// Mean over tasks of the estimated value of the candidate's greedy policy on the held-out
  /// episodes (LSTD-Q on psi, `LSTDQEvaluation`).
  public var score: Double
  /// Mean over tasks of the held-out Bellman error (RMS): reported, not used to choose.
  public var heldOutBellmanError: Double
  public var chosen: Bool

  enum CodingKeys: String, CodingKey {
    case method, rank, ridge, score, chosen, iterations
    case relativeRidge = "relative_ridge"
    case headRidge = "head_ridge"
    case heldOutBellmanError = "held_out_bellman_error"
  }

  /// Non-finite numbers (a candidate that failed) are written as null: JSON has no NaN.
  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(method, forKey: .method)
    try c.encode(rank, forKey: .rank)
    try c.encode(ridge, forKey: .ridge)
    try c.encode(relativeRidge, forKey: .relativeRidge)
    try c.encode(headRidge, forKey: .headRidge)
    try c.encode(iterations, forKey: .iterations)
    try c.encodeIfPresent(score.isFinite ? score : nil, forKey: .score)
    try c.encodeIfPresent(
      heldOutBellmanError.isFinite ? heldOutBellmanError : nil, forKey: .heldOutBellmanError)
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
    iterations = try c.decode(Int.self, forKey: .iterations)
    score = try c.decodeIfPresent(Double.self, forKey: .score) ?? -.infinity
    heldOutBellmanError = try c.decodeIfPresent(Double.self, forKey: .heldOutBellmanError) ?? .nan
    chosen = try c.decode(Bool.self, forKey: .chosen)
  }
}

/// Settings the user left on `auto`, chosen by the estimated value of each candidate's greedy
/// policy on held-out episodes.
///
/// Each task's episodes are split (seeded, stream `selectionStream`): `heldOutFraction` of
/// them (at least one, at most all but one; the last rows when a task has a single episode) are
/// held out. Every candidate is fitted on the rest (the Gram matrices are computed once and
/// shared by all candidates) and scored by `LSTDQEvaluation` (LSTD-Q on the base features, a
/// closed-form solve per task) on the held-out rows, from the held-out episodes' first states.
/// The candidate with the highest mean estimated value wins (ties: the earlier candidate, i.e.
/// the smaller rank and the stronger ridge); the final model is then fitted on all the data.
///
/// Candidates: ranks 1, 2, 4, ... up to min(T, D) (and min(T, D) itself) when the rank is
/// auto; relative ridges `relativeRidges` times the mean Gram diagonal (the features' mean
/// second moment) when the ridge is auto; the head ridge equals the ridge. Successive halving:
/// with more than `survivors` candidates, each is first fitted with a fifth of the iterations
/// and only the best `survivors` are fitted with all of them (the table lists both rungs).
/// The single-task baseline's ridge is chosen from the same ridges by its own score (its fits
/// are closed-form per iteration, so all run in full).
enum ModelSelection {
  static let selectionStream = "train/selection"
  static let heldOutFraction = 0.2
  static let relativeRidges = [1e-5, 1e-3, 1e-1]
  /// Candidates kept for the full iterations after the first rung.
  static let survivors = 3
  /// The LSTD-Q ridge, relative to the evaluation data's mean Gram diagonal.
  static let evaluationRidge = 1e-3

  struct Result {
    var rank: Int
    var ridge: Double
    var headRidge: Double
    var singleTaskRidge: Double?
    var table: [SelectionCandidate]
    var seconds: Double
    /// theta_t of every candidate (index as in `table`; empty when it failed): for tests.
    var candidateThetas: [[[Double]]] = []
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

  /// Chooses the settings `config` leaves on auto (discounted mode only).
  static func select(
    _ tasks: [TaskTransitions], featureMap: FeatureMap, config: TrainConfig,
    progress: (@Sendable (String) -> Void)?
  ) throws(FQIError) -> Result {
    let started = Date()
    var trainingSets: [TaskTransitions] = []
    var evaluationSets: [(task: TaskTransitions, rows: [Int]?)] = []
    var startSets: [(task: TaskTransitions, rows: [Int]?)] = []
    for (index, task) in tasks.enumerated() {
      let (training, heldOut) = split(task, seed: config.seed, index: index)
      trainingSets.append(task.selecting(training))
      evaluationSets.append((task, heldOut))
      startSets.append((task, startRows(task, heldOut)))
    }
    let problems = try Trainer.makeProblems(trainingSets, featureMap: featureMap, config: config)
    let evaluation: [RegressionData]
    let starts: [RegressionData]
    do {
      evaluation = try RegressionData.build(
        evaluationSets, featureMap: featureMap, discount: config.resolvedGamma)
      starts = try RegressionData.build(
        startSets, featureMap: featureMap, discount: config.resolvedGamma)
    } catch {
      throw .linearAlgebra(context: "model selection data", error: error)
    }
    let base = config.parameters
    var scale = 0.0
    for problem in problems[0] { scale += problem.gram.meanDiagonal }
    scale = max(scale / Double(max(problems[0].count, 1)), Double.leastNormalMagnitude)
    let evaluators = (0..<tasks.count).map { t in
      var low = Double.infinity
      var high = -Double.infinity
      for r in tasks[t].rewards {
        low = min(low, r)
        high = max(high, r)
      }
      return LSTDQEvaluation(
        data: evaluation[t], starts: starts[t],
        ridge: evaluationRidge * max(evaluation[t].gram.meanDiagonal, Double.leastNormalMagnitude),
        range: base.valueRange(step: 0, rewardRange: low <= high ? low...high : 0...0))
    }
    let dimension = featureMap.dimension
    let ceiling = min(tasks.count, dimension)
    var ranks: [Int] = [config.rank]
    if config.rankAuto {
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
    func score(_ thetas: [[Double]]) throws(FQIError) -> (value: Double, bellman: Double) {
      var value = 0.0
      var bellman = 0.0
      do {
        for (t, evaluator) in evaluators.enumerated() {
          value += try evaluator.value(of: thetas[t]).value
          bellman += try heldOutBellmanError(evaluation[t], thetas[t])
        }
      } catch {
        throw .linearAlgebra(context: "model selection: policy evaluation", error: error)
      }
      let count = Double(max(evaluators.count, 1))
      return (value / count, bellman / count)
    }
    var table: [SelectionCandidate] = []
    var candidateThetas: [[[Double]]] = []
    let names = tasks.map(\.name)
    let iterations: Int
    if case .discounted(_, let k) = base.objective { iterations = k } else { iterations = 1 }
    /// Fits and scores one multitask candidate with `rounds` FQI iterations.
    func evaluate(rank: Int, ridge: Double, rounds: Int) throws(FQIError) -> (
      SelectionCandidate, [[Double]]
    ) {
      var parameters = base
      parameters.rank = rank
      parameters.ridge = ridge
      parameters.headRidge = config.headRidgeAuto ? ridge : (config.headRidge ?? ridge)
      parameters.objective = .discounted(gamma: base.gamma, iterations: rounds)
      let runner = FittedQIteration(parameters: parameters, taskNames: names)
      var candidate = SelectionCandidate(
        method: "multitask", rank: rank, ridge: ridge, relativeRidge: ridge / scale,
        headRidge: parameters.headRidge, iterations: rounds, score: -.infinity,
        heldOutBellmanError: .nan, chosen: false)
      var thetas: [[Double]] = []
      do throws(FQIError) {
        let fit = try runner.multitask(problems)
        let product: Matrix
        do {
          product = try RankKSolver.thetas(fit.representations[0], fit.heads[0])
        } catch {
          throw .linearAlgebra(context: "B W", error: error)
        }
        thetas = (0..<tasks.count).map { product.column($0) }
        let result = try score(thetas)
        candidate.score = result.value
        candidate.heldOutBellmanError = result.bellman
      } catch {
        guard case .diverged = error else { throw error }
      }
      progress?(
        "selection: multitask k = \(rank), ridge \(short(ridge)), \(rounds) iterations: estimated value \(short(candidate.score))"
      )
      return (candidate, thetas)
    }
    // Successive halving: every candidate for a fifth of the iterations, then the best
    // `survivors` for all of them.
    let grid = ranks.flatMap { rank in ridges.map { (rank: rank, ridge: $0) } }
    var finalists = grid.indices.map { $0 }
    if grid.count > survivors && iterations >= 10 {
      var first: [(index: Int, score: Double)] = []
      for (index, setting) in grid.enumerated() {
        let (candidate, thetas) = try evaluate(
          rank: setting.rank, ridge: setting.ridge, rounds: max(5, iterations / 5))
        first.append((index, candidate.score))
        table.append(candidate)
        candidateThetas.append(thetas)
      }
      // Stable: equal scores keep the grid order.
      finalists = first.sorted { $0.score > $1.score || ($0.score == $1.score && $0.index < $1.index) }
        .prefix(survivors).map(\.index).sorted()
    }
    var best: (index: Int, score: Double)?
    for index in finalists {
      let (candidate, thetas) = try evaluate(
        rank: grid[index].rank, ridge: grid[index].ridge, rounds: iterations)
      if candidate.score.isFinite,
        best.map({ candidate.score > $0.score + 1e-12 * abs($0.score) }) ?? true
      {
        best = (table.count, candidate.score)
      }
      table.append(candidate)
      candidateThetas.append(thetas)
    }
    guard let chosen = best else {
      throw .guardrail(
        "model selection: no candidate could be fitted and evaluated (ranks \(ranks), ridges \(ridges.map(short))); give --rank and --ridge")
    }
    table[chosen.index].chosen = true
    var singleTaskRidge: Double?
    if config.singleTask && config.ridgeAuto {
      var bestSingle: (index: Int, score: Double)?
      for ridge in ridges {
        var parameters = base
        parameters.ridge = ridge
        var runner = FittedQIteration(parameters: parameters, taskNames: names)
        runner.method = "single-task"
        var candidate = SelectionCandidate(
          method: "single-task", rank: 0, ridge: ridge, relativeRidge: ridge / scale,
          headRidge: ridge, iterations: iterations, score: -.infinity, heldOutBellmanError: .nan,
          chosen: false)
        do throws(FQIError) {
          let fit = try runner.singleTask(problems, ridge: ridge)
          let thetas = (0..<tasks.count).map { fit.thetas[0].column($0) }
          candidateThetas.append(thetas)
          let result = try score(thetas)
          candidate.score = result.value
          candidate.heldOutBellmanError = result.bellman
        } catch {
          guard case .diverged = error else { throw error }
        }
        if candidateThetas.count == table.count { candidateThetas.append([]) }
        if candidate.score.isFinite,
          bestSingle.map({ candidate.score > $0.score + 1e-12 * abs($0.score) }) ?? true
        {
          bestSingle = (table.count, candidate.score)
        }
        table.append(candidate)
      }
      if let bestSingle {
        table[bestSingle.index].chosen = true
        singleTaskRidge = table[bestSingle.index].ridge
      }
    }
    let winner = table[chosen.index]
    return Result(
      rank: winner.rank, ridge: winner.ridge, headRidge: winner.headRidge,
      singleTaskRidge: singleTaskRidge, table: table,
      seconds: Date().timeIntervalSince(started), candidateThetas: candidateThetas)
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
