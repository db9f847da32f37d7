import Foundation

/// The numerical settings of one fitted Q-iteration run (resolved from the train config).
public struct FQIParameters: Sendable, Equatable {
  public enum Objective: Sendable, Equatable {
    /// K iterations of y = r + gamma (1 - terminated) max_a' Q(s', a').
    case discounted(gamma: Double, iterations: Int)
    /// Steps h = H-1 ... 0 with Q_H = 0 and y_h = r + gamma (1 - terminated) max_a' Q_{h+1}.
    case finiteHorizon(horizon: Int, gamma: Double)
  }

  public var objective: Objective
  /// k.
  public var rank: Int
  /// The ridge on B (and of the single-task baseline), mean convention (see `RankKSolver`).
  public var ridge: Double
  /// The ridge on every head w (and of the oracle, which fits heads only).
  public var headRidge: Double
  /// ALS stops when a sweep moves the fitted Q by at most this, relative (RMS over the data).
  public var alsTolerance: Double
  public var alsMaxSweeps: Int
  /// Finite horizon with one shared B: the outer loop stops when the relative change of Q
  /// between rounds is at most this ...
  public var outerTolerance: Double
  /// ... or after this many rounds.
  public var outerMaxRounds: Int
  /// Finite horizon: one B for every step (true) or one B per step (false).
  public var sharedRepresentation: Bool
  /// Divergence is declared when a bootstrapped |Q| exceeds this factor times the largest
  /// value the rewards allow (max |r| / (1 - gamma), or max |r| times the horizon's discount
  /// sum).
  public var divergenceFactor: Double

  public init(
    objective: Objective, rank: Int, ridge: Double, headRidge: Double? = nil,
    alsTolerance: Double = 1e-4, alsMaxSweeps: Int = 100, outerTolerance: Double = 1e-6,
    outerMaxRounds: Int = 100, sharedRepresentation: Bool = true, divergenceFactor: Double = 10
  ) {
    self.objective = objective
    self.rank = rank
    self.ridge = ridge
    self.headRidge = headRidge ?? ridge
    self.alsTolerance = alsTolerance
    self.alsMaxSweeps = alsMaxSweeps
    self.outerTolerance = outerTolerance
    self.outerMaxRounds = outerMaxRounds
    self.sharedRepresentation = sharedRepresentation
    self.divergenceFactor = divergenceFactor
  }

  var gamma: Double {
    switch objective {
    case .discounted(let gamma, _), .finiteHorizon(_, let gamma): gamma
    }
  }

  /// The largest |Q| the rewards allow, per unit of max |r|.
  var valueScale: Double {
    switch objective {
    case .discounted(let gamma, _): return 1 / (1 - gamma)
    case .finiteHorizon(let horizon, let gamma):
      var sum = 0.0
      var power = 1.0
      for _ in 0..<horizon {
        sum += power
        power *= gamma
      }
      return sum
    }
  }

  var solver: RankKSolver {
    RankKSolver(
      rank: rank, ridge: ridge, headRidge: headRidge, tolerance: alsTolerance,
      maxSweeps: alsMaxSweeps)
  }
}

/// One row of a training log.
public struct IterationRecord: Sendable, Codable, Equatable {
  /// 1-based: the FQI iteration (discounted), the position in the backward pass (finite
  /// horizon, one B per step) or the outer round (finite horizon, shared B).
  public var iteration: Int
  /// The step h fitted (finite horizon, one B per step); -1 otherwise.
  public var step: Int
  /// ALS sweeps (0 for methods without ALS).
  public var sweeps: Int
  /// The objective J after the fit (ridge terms included; mean convention).
  public var objective: Double
  /// Per task: the RMS over its rows of y - Q after the fit (the fitted Bellman residual;
  /// finite horizon with shared B: RMS over the steps too).
  public var bellmanResiduals: [Double]
  /// Per task: the RMS over its rows of the change of Q since the previous iteration.
  public var qChanges: [Double]
  /// Per task: the largest |Q(s', a')| bootstrapped into this iteration's targets.
  public var maxAbsNextQ: [Double]
  /// Wall-clock seconds of the iteration (timing: differs between runs).
  public var seconds: Double
  /// Of which in the passes over the data for the targets: next-state values
  /// max_a' Q(s', a'), targets, and c = Psi^T y / n (timing).
  public var targetSeconds: Double = 0
}

/// The result of multitask FQI: one B (D x k) and heads W (k x T) per step, or a single one.
public struct MultitaskFit: Sendable {
  /// One D x k matrix, or H (index h) with one B per step.
  public var representations: [Matrix]
  /// One k x T matrix, or H (index h) in finite-horizon mode.
  public var heads: [Matrix]
  public var log: [IterationRecord]
}

/// The result of an FQI run with one D-vector per task (single-task baseline, or the oracle's
/// heads): one D x T matrix, or H of them (index h).
public struct PerTaskFit: Sendable {
  public var thetas: [Matrix]
  public var log: [IterationRecord]
}

/// Multitask and single-task fitted Q-iteration on prepared problems.
///
/// `problems[h][t]` is task t's data at step h (finite horizon) or `problems[0][t]`
/// (discounted); pooled finite-horizon data repeat the same object at every step.
/// `progress` is called after every iteration with the method name.
struct FittedQIteration {
  let parameters: FQIParameters
  let taskNames: [String]
  var progress: (@Sendable (String, IterationRecord) -> Void)?
  /// The method named in progress and in divergence messages: "multitask", "single-task",
  /// "oracle".
  var method = "multitask"
  /// Seconds spent in target passes since the last log row (timing only).
  let targetClock = TargetClock()

  final class TargetClock {
    var seconds = 0.0
    func take() -> Double {
      defer { seconds = 0 }
      return seconds
    }
  }

  // MARK: Multitask

  /// `singleTask` (finite horizon with a shared B): the single-task fit to initialise from, if
  /// it was computed already (it is computed here otherwise).
  func multitask(_ problems: [[RegressionData]], singleTask: PerTaskFit? = nil) throws(FQIError)
    -> MultitaskFit
  {
    switch parameters.objective {
    case .discounted(_, let iterations):
      return try multitaskDiscounted(problems[0], iterations: iterations)
    case .finiteHorizon(let horizon, _):
      return parameters.sharedRepresentation
        ? try multitaskSharedHorizon(problems, horizon: horizon, initial: singleTask)
        : try multitaskPerStep(problems, horizon: horizon)
    }
  }

  func multitaskDiscounted(_ problems: [RegressionData], iterations: Int) throws(FQIError)
    -> MultitaskFit
  {
    let solver = parameters.solver
    var previous: [[Double]?] = Array(repeating: nil, count: problems.count)
    var b: Matrix?
    var w = Matrix(rows: parameters.rank, columns: problems.count)
    var log: [IterationRecord] = []
    for iteration in 1...max(iterations, 1) {
      let started = Date()
      let targets = try targetStatistics(problems, previous, iteration: iteration, log: log)
      let stats = statistics(problems, targets)
      let start: Matrix
      if let b {
        start = b
      } else {
        start = try RankKSolver.spectralInitialisation(
          try solver.ridgeSolutions(stats), rank: parameters.rank)
      }
      let fit = try solver.alternate(from: start, stats)
      let thetas = try checkedThetas(fit, stats, iteration: iteration, problems: problems, log: log)
      let record = try makeRecord(
        iteration: iteration, step: -1, sweeps: fit.sweeps, objective: fit.objective,
        thetas: thetas, previous: previous, stats: stats, targets: targets, started: started)
      log.append(record)
      progress?(method, record)
      previous = thetas.map { Optional($0) }
      b = fit.b
      w = fit.w
    }
    return MultitaskFit(
      representations: [b ?? Matrix(rows: problems[0].dimension, columns: parameters.rank)],
      heads: [w], log: log)
  }

  func multitaskPerStep(_ problems: [[RegressionData]], horizon: Int) throws(FQIError)
    -> MultitaskFit
  {
    let solver = parameters.solver
    let tasks = problems[0].count
    var next: [[Double]?] = Array(repeating: nil, count: tasks)
    var representations = [Matrix](
      repeating: Matrix(rows: 0, columns: 0), count: horizon)
    var heads = [Matrix](repeating: Matrix(rows: 0, columns: 0), count: horizon)
    var log: [IterationRecord] = []
    for (index, h) in (0..<horizon).reversed().enumerated() {
      let started = Date()
      let iteration = index + 1
      let targets = try targetStatistics(problems[h], next, iteration: iteration, log: log)
      let stats = statistics(problems[h], targets)
      let start = try RankKSolver.spectralInitialisation(
        try solver.ridgeSolutions(stats), rank: parameters.rank)
      let fit = try solver.alternate(from: start, stats)
      let thetas = try checkedThetas(
        fit, stats, iteration: iteration, problems: problems[h], log: log)
      let record = try makeRecord(
        iteration: iteration, step: h, sweeps: fit.sweeps, objective: fit.objective,
        thetas: thetas, previous: next, stats: stats, targets: targets, started: started)
      log.append(record)
      progress?(method, record)
      representations[h] = fit.b
      heads[h] = fit.w
      next = thetas.map { Optional($0) }
    }
    return MultitaskFit(representations: representations, heads: heads, log: log)
  }

  /// One B for every step: alternate a backward pass of heads (B fixed) with a joint ALS refit
  /// of B and every head over all (task, step) problems, until Q changes by at most
  /// `outerTolerance` (relative) between rounds; a final backward pass of heads makes the
  /// heads exactly those of FQI with the final B.
  func multitaskSharedHorizon(
    _ problems: [[RegressionData]], horizon: Int, initial: PerTaskFit? = nil
  ) throws(FQIError) -> MultitaskFit {
    let solver = parameters.solver
    let tasks = problems[0].count
    var initialFit: PerTaskFit
    if let initial {
      initialFit = initial
    } else {
      var quiet = self
      quiet.progress = nil
      initialFit = try quiet.singleTask(problems)
    }
    let initial = initialFit
    var all = Matrix(rows: problems[0][0].dimension, columns: tasks * horizon)
    for h in 0..<horizon {
      for t in 0..<tasks {
        let column = initial.thetas[h].column(t)
        for i in 0..<column.count { all.storage[i + (h * tasks + t) * all.rows] = column[i] }
      }
    }
    var b = try RankKSolver.spectralInitialisation(all, rank: parameters.rank)
    var previousThetas: [[[Double]]] = (0..<horizon).map { h in
      (0..<tasks).map { initial.thetas[h].column($0) }
    }
    var log: [IterationRecord] = []
    for round in 1...max(parameters.outerMaxRounds, 1) {
      let started = Date()
      let pass = try backwardHeads(problems, b: b, horizon: horizon, iteration: round, log: log)
      let flat = pass.stats.flatMap { $0 }
      let fit = try solver.alternate(from: b, flat)
      b = fit.b
      var thetas: [[[Double]]] = Array(repeating: [], count: horizon)
      let product: Matrix
      do {
        product = try RankKSolver.thetas(fit.b, fit.w)
      } catch {
        throw .linearAlgebra(context: "B W", error: error)
      }
      for h in 0..<horizon { thetas[h] = (0..<tasks).map { product.column(h * tasks + $0) } }
      // Per-task RMS over steps of the residual and of the change; relative change overall.
      var residuals = [Double](repeating: 0, count: tasks)
      var changes = [Double](repeating: 0, count: tasks)
      var changeTotal = 0.0
      var scaleTotal = 0.0
      var maxNext = [Double](repeating: 0, count: tasks)
      let objective: (total: Double, residuals: [Double])
      do {
        objective = try solver.objective(fit.b, fit.w, flat)
        for h in 0..<horizon {
          for t in 0..<tasks {
            let gram = pass.stats[h][t].gram
            let delta = zip(thetas[h][t], previousThetas[h][t]).map { $0 - $1 }
            let change = try gram.quadratic(delta)
            changes[t] += change / Double(horizon)
            changeTotal += change
            scaleTotal += try gram.quadratic(thetas[h][t])
            residuals[t] += objective.residuals[h * tasks + t] / Double(horizon)
            maxNext[t] = max(maxNext[t], pass.targets[h][t].maxAbsNextValue)
          }
        }
      } catch {
        throw .linearAlgebra(context: "training log", error: error)
      }
      try checkFinite(objective.total, thetas.flatMap { $0 }, iteration: round, log: log)
      let record = IterationRecord(
        iteration: round, step: -1, sweeps: fit.sweeps, objective: objective.total,
        bellmanResiduals: residuals.map { $0.squareRoot() },
        qChanges: changes.map { $0.squareRoot() }, maxAbsNextQ: maxNext,
        seconds: Date().timeIntervalSince(started), targetSeconds: targetClock.take())
      log.append(record)
      progress?(method, record)
      previousThetas = thetas
      let relative =
        scaleTotal > 0 ? (changeTotal / scaleTotal).squareRoot() : changeTotal.squareRoot()
      if round > 1 && relative <= parameters.outerTolerance { break }
    }
    let final = try backwardHeads(
      problems, b: b, horizon: horizon, iteration: log.count + 1, log: log)
    return MultitaskFit(
      representations: [b], heads: final.heads, log: log)
  }

  /// The backward pass of heads for a fixed B: h = H-1 ... 0, targets from the heads of step
  /// h + 1 just fitted.
  func backwardHeads(
    _ problems: [[RegressionData]], b: Matrix, horizon: Int, iteration: Int,
    log: [IterationRecord]
  ) throws(FQIError) -> (
    heads: [Matrix], stats: [[ProblemStatistics]], targets: [[TargetStatistics]]
  ) {
    let solver = parameters.solver
    let tasks = problems[0].count
    var next: [[Double]?] = Array(repeating: nil, count: tasks)
    var heads = [Matrix](repeating: Matrix(rows: 0, columns: 0), count: horizon)
    var allStats = [[ProblemStatistics]](repeating: [], count: horizon)
    var allTargets = [[TargetStatistics]](repeating: [], count: horizon)
    for h in (0..<horizon).reversed() {
      let targets = try targetStatistics(problems[h], next, iteration: iteration, log: log)
      let stats = statistics(problems[h], targets)
      do {
        let w = try solver.heads(b, stats)
        let product = try RankKSolver.thetas(b, w)
        next = (0..<tasks).map { Optional(product.column($0)) }
        heads[h] = w
      } catch {
        throw .linearAlgebra(context: "heads at step \(h)", error: error)
      }
      allStats[h] = stats
      allTargets[h] = targets
    }
    return (heads, allStats, allTargets)
  }

  // MARK: Single task (and the oracle)

  /// Full-rank ridge FQI per task on psi: theta_t = (G_t + ridge I)^-1 c_t every iteration
  /// (or every step, backward). The oracle is this with psi = B*^T x and the head ridge.
  func singleTask(_ problems: [[RegressionData]], ridge: Double? = nil) throws(FQIError)
    -> PerTaskFit
  {
    let ridge = ridge ?? parameters.ridge
    let tasks = problems[0].count
    func solve(_ stats: [ProblemStatistics]) throws(FQIError) -> [[Double]] {
      var result: [[Double]] = []
      for problem in stats {
        do {
          result.append(try problem.gram.ridgeSolve(problem.cross, ridge: ridge))
        } catch {
          throw .linearAlgebra(context: "\(method) ridge solution", error: error)
        }
      }
      return result
    }
    func matrix(_ columns: [[Double]]) -> Matrix {
      let d = problems[0][0].dimension
      return Matrix(rows: d, columns: columns.count, columnMajor: columns.flatMap { $0 })
    }
    var log: [IterationRecord] = []
    switch parameters.objective {
    case .discounted(_, let iterations):
      var previous: [[Double]?] = Array(repeating: nil, count: tasks)
      var thetas: [[Double]] = []
      for iteration in 1...max(iterations, 1) {
        let started = Date()
        let targets = try targetStatistics(problems[0], previous, iteration: iteration, log: log)
        let stats = statistics(problems[0], targets)
        thetas = try solve(stats)
        let record = try makeRecord(
          iteration: iteration, step: -1, sweeps: 0, objective: nil, thetas: thetas,
          previous: previous, stats: stats, targets: targets, started: started, ridge: ridge)
        try checkFinite(record.objective, thetas, iteration: iteration, log: log)
        log.append(record)
        progress?(method, record)
        previous = thetas.map { Optional($0) }
      }
      return PerTaskFit(thetas: [matrix(thetas)], log: log)
    case .finiteHorizon(let horizon, _):
      var next: [[Double]?] = Array(repeating: nil, count: tasks)
      var result = [Matrix](repeating: Matrix(rows: 0, columns: 0), count: horizon)
      for (index, h) in (0..<horizon).reversed().enumerated() {
        let started = Date()
        let targets = try targetStatistics(problems[h], next, iteration: index + 1, log: log)
        let stats = statistics(problems[h], targets)
        let thetas = try solve(stats)
        let record = try makeRecord(
          iteration: index + 1, step: h, sweeps: 0, objective: nil, thetas: thetas,
          previous: next, stats: stats, targets: targets, started: started, ridge: ridge)
        try checkFinite(record.objective, thetas, iteration: index + 1, log: log)
        log.append(record)
        progress?(method, record)
        result[h] = matrix(thetas)
        next = thetas.map { Optional($0) }
      }
      return PerTaskFit(thetas: result, log: log)
    }
  }

  // MARK: Shared steps

  func statistics(_ problems: [RegressionData], _ targets: [TargetStatistics])
    -> [ProblemStatistics]
  {
    zip(problems, targets).map {
      ProblemStatistics(gram: $0.gram, cross: $1.cross, squares: $1.squares)
    }
  }

  /// One pass for the targets, then the divergence check on what was bootstrapped.
  func targetStatistics(
    _ problems: [RegressionData], _ next: [[Double]?], iteration: Int, log: [IterationRecord]
  ) throws(FQIError) -> [TargetStatistics] {
    let targets: [TargetStatistics]
    let started = Date()
    defer { targetClock.seconds += Date().timeIntervalSince(started) }
    do {
      targets = try RegressionData.targetStatistics(problems, nextThetas: next)
    } catch {
      throw .linearAlgebra(context: "targets of iteration \(iteration)", error: error)
    }
    for (t, (problem, target)) in zip(problems, targets).enumerated() {
      let bound =
        parameters.divergenceFactor * parameters.valueScale
        * max(problem.maxAbsReward, Double.leastNormalMagnitude)
      let finite = target.squares.isFinite && target.maxAbsNextValue.isFinite
      if !finite || target.maxAbsNextValue > bound {
        let what =
          finite
          ? "the largest bootstrapped |Q| is \(short(target.maxAbsNextValue)), more than \(short(parameters.divergenceFactor)) x max|r| x \(valueScaleText) = \(short(bound))"
          : "the targets are no longer finite"
        throw divergence(
          iteration: iteration, task: taskNames[t], what: what, taskIndex: t, log: log)
      }
    }
    return targets
  }

  var valueScaleText: String {
    switch parameters.objective {
    case .discounted: "1/(1 - gamma)"
    case .finiteHorizon: "(sum of gamma^h over the horizon)"
    }
  }

  func divergence(
    iteration: Int, task: String, what: String, taskIndex: Int, log: [IterationRecord]
  ) -> FQIError {
    var detail = what
    let history = log.suffix(4).compactMap { record -> String? in
      guard taskIndex < record.bellmanResiduals.count else { return nil }
      return short(record.bellmanResiduals[taskIndex])
    }
    if history.count >= 2 {
      detail +=
        "; its Bellman residual over the last iterations: \(history.joined(separator: " -> "))"
    }
    let stronger = parameters.ridge > 0 ? parameters.ridge * 10 : 1e-3
    let suggestion =
      "A weak ridge lets FQI's least-squares steps amplify errors: rerun with a stronger ridge, e.g. --ridge \(short(stronger)) (now \(short(parameters.ridge)))."
    return .diverged(
      method: method, iteration: iteration, task: task, detail: detail, suggestion: suggestion)
  }

  func checkFinite(
    _ objective: Double, _ thetas: [[Double]], iteration: Int, log: [IterationRecord]
  ) throws(FQIError) {
    for (t, theta) in thetas.enumerated() where theta.contains(where: { !$0.isFinite }) {
      throw divergence(
        iteration: iteration, task: taskNames[t], what: "its Q function is no longer finite",
        taskIndex: t, log: log)
    }
    if !objective.isFinite {
      throw divergence(
        iteration: iteration, task: taskNames.first ?? "?", what: "the objective is not finite",
        taskIndex: 0, log: log)
    }
  }

  func checkedThetas(
    _ fit: RankKSolver.Fit, _ stats: [ProblemStatistics], iteration: Int,
    problems: [RegressionData], log: [IterationRecord]
  ) throws(FQIError) -> [[Double]] {
    let product: Matrix
    do {
      product = try RankKSolver.thetas(fit.b, fit.w)
    } catch {
      throw .linearAlgebra(context: "B W", error: error)
    }
    let thetas = (0..<stats.count).map { product.column($0) }
    try checkFinite(fit.objective, thetas, iteration: iteration, log: log)
    return thetas
  }

  /// A log row: residuals from the statistics (no extra pass over the data).
  func makeRecord(
    iteration: Int, step: Int, sweeps: Int, objective: Double?, thetas: [[Double]],
    previous: [[Double]?], stats: [ProblemStatistics], targets: [TargetStatistics],
    started: Date, ridge: Double = 0
  ) throws(FQIError) -> IterationRecord {
    var residuals: [Double] = []
    var changes: [Double] = []
    var total = 0.0
    do {
      for (p, problem) in stats.enumerated() {
        let theta = thetas[p]
        var dot = 0.0
        var norm = 0.0
        for i in 0..<theta.count {
          dot += theta[i] * problem.cross[i]
          norm += theta[i] * theta[i]
        }
        let quadratic = try problem.gram.quadratic(theta)
        let residual = problem.squares - 2 * dot + quadratic
        total += residual + ridge * norm
        residuals.append(max(0, residual).squareRoot())
        let delta: [Double]
        if let old = previous[p] {
          delta = zip(theta, old).map { $0 - $1 }
        } else {
          delta = theta
        }
        changes.append(max(0, try problem.gram.quadratic(delta)).squareRoot())
      }
    } catch {
      throw .linearAlgebra(context: "training log", error: error)
    }
    return IterationRecord(
      iteration: iteration, step: step, sweeps: sweeps, objective: objective ?? total,
      bellmanResiduals: residuals, qChanges: changes, maxAbsNextQ: targets.map(\.maxAbsNextValue),
      seconds: Date().timeIntervalSince(started), targetSeconds: targetClock.take())
  }
}

/// A number in at most 4 significant digits, for messages.
func short(_ value: Double) -> String {
  if value == 0 || !value.isFinite { return "\(value)" }
  let magnitude = abs(value)
  if magnitude >= 1e-3 && magnitude < 1e5 {
    return String(format: "%.4g", value)
  }
  return String(format: "%.3e", value)
}
