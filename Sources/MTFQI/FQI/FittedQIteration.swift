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
  /// Clip every bootstrapped value max_a' Q(s', a') to the range the task's rewards allow
  /// (`valueRange`): the paper's function class clip(<phi, w>, [0, H]). Iterates stay bounded
  /// whatever the ridge.
  public var clipValues = true
  /// How often a run whose iterates misbehave (the guard) restarts from its last good iterate
  /// with a ten times stronger ridge before it gives up.
  public var maxRecoveries = 4
  /// Where the multitask ridge sits (`RankKSolver`).
  public enum RidgeForm: String, Sendable, Codable, CaseIterable, LosslessStringConvertible {
    /// `ridge` on B and `headRidge` on the heads W (a nuclear-norm-like penalty on B W).
    case factors
    /// `ridge` on every task's theta_t = B w_t, the single-task ridge (rank T is then the
    /// single-task fit exactly); the factors carry only `factorJitter` times it, which keeps
    /// the ALS systems positive definite and their scale balanced. `headRidge` is not used.
    case theta

    public init?(_ description: String) { self.init(rawValue: description) }
    public var description: String { rawValue }
  }
  public var ridgeForm = RidgeForm.factors
  /// With `RidgeForm.theta`: the ridges on B and W relative to the ridge on theta.
  public static let factorJitter = 1e-8

  public init(
    objective: Objective, rank: Int, ridge: Double, headRidge: Double? = nil,
    alsTolerance: Double = 1e-6, alsMaxSweeps: Int = 100, outerTolerance: Double = 1e-6,
    outerMaxRounds: Int = 100, sharedRepresentation: Bool = true, divergenceFactor: Double = 10,
    clipValues: Bool = true
  ) {
    self.clipValues = clipValues
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

  /// The range of V_{h+1} (what step h bootstraps) for rewards in [rMin, rMax]:
  /// [min(rMin, 0), max(rMax, 0)] times 1/(1 - gamma) (discounted) or times
  /// sum_{j < H-h-1} gamma^j (finite horizon; {0} at the last step). The 0 is included because a
  /// value can be a partial sum (episodes terminate).
  func valueRange(step h: Int, rewardRange: ClosedRange<Double>) -> ClosedRange<Double> {
    let low = min(rewardRange.lowerBound, 0)
    let high = max(rewardRange.upperBound, 0)
    let scale: Double
    switch objective {
    case .discounted(let gamma, _):
      scale = 1 / (1 - gamma)
    case .finiteHorizon(let horizon, let gamma):
      var sum = 0.0
      var power = 1.0
      for _ in 0..<max(horizon - h - 1, 0) {
        sum += power
        power *= gamma
      }
      scale = sum
    }
    return (low * scale)...(high * scale)
  }

  var solver: RankKSolver {
    switch ridgeForm {
    case .factors:
      return RankKSolver(
        rank: rank, ridge: ridge, headRidge: headRidge, tolerance: alsTolerance,
        maxSweeps: alsMaxSweeps)
    case .theta:
      return RankKSolver(
        rank: rank, ridge: Self.factorJitter * ridge, headRidge: Self.factorJitter * ridge,
        tolerance: alsTolerance, maxSweeps: alsMaxSweeps, weightRidge: ridge)
    }
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
  /// Per task: the largest |max_a' Q(s', a')| bootstrapped into this iteration's targets,
  /// after clipping (inside the value range when clipping is on).
  public var maxAbsNextQ: [Double]
  /// Wall-clock seconds of the iteration (timing: differs between runs).
  public var seconds: Double
  /// Of which in the passes over the data for the targets: next-state values
  /// max_a' Q(s', a'), targets, and c = Psi^T y / n (timing).
  public var targetSeconds: Double = 0
  /// The ridge in effect (on B for multitask, on theta for single-task, on w for heads):
  /// larger than the configured one after a recovery.
  public var ridge: Double = 0
  /// Restarts from the last good iterate so far (recoveries from a misbehaving iterate).
  public var restarts: Int = 0
  /// Per task: the share of bootstrapped next-state values that were clipped.
  public var clippedShares: [Double] = []
  /// The optimality certificate of the iteration's least-squares fit: the norm of the
  /// gradient of J at the returned point relative to the norm of its data part at 0
  /// (||grad J|| / ||grad J(0)||; 0 for closed-form solves, which are exact).
  public var relativeGradient: Double = 0
  /// |J_last sweep - J_previous sweep| / J (0 for closed-form solves).
  public var objectiveChange: Double = 0
  /// Per task: the same before clipping (what the divergence guard watches: how far the
  /// features extrapolate); empty in logs written before it existed.
  public var maxAbsNextQUnclipped: [Double] = []
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
  /// The ridge used when it differs from the model's (chosen for the baseline by selection).
  public var ridge: Double? = nil
}

/// Multitask, single-task, oracle and frozen-head fitted Q-iteration on prepared problems:
/// one schedule (`schedule`) with a pluggable least-squares step (`FQIStepSolver`), one
/// target function (`RegressionData.targetStatistics`) and one guard (`targetStatistics`,
/// `checkFinite`).
///
/// `problems[h][t]` is task t's data at step h (finite horizon) or `problems[0][t]`
/// (discounted); pooled finite-horizon data repeat the same object at every step.
/// `progress` is called after every iteration with the method name.
struct FittedQIteration {
  let parameters: FQIParameters
  let taskNames: [String]
  var progress: (@Sendable (String, IterationRecord) -> Void)?
  /// The method named in progress and in divergence messages: "multitask", "single-task",
  /// "oracle", "frozen", "scratch".
  var method = "multitask"
  /// The flag named in the divergence suggestion.
  var ridgeFlag = "--ridge"
  /// Seconds spent in target passes since the last log row (timing only).
  let targetClock = TargetClock()
  /// What the run said about itself (recoveries), for the summary's warnings.
  let notices = Notices()
  /// Called at once with every notice (stderr).
  var noticeHandler: (@Sendable (String) -> Void)?

  final class Notices {
    var messages: [String] = []
    /// The ridge of the iteration in progress and the restarts so far (for messages).
    var currentRidge: Double?
    var restarts = 0
    func append(_ message: String) { messages.append(message) }
  }

  final class TargetClock {
    var seconds = 0.0
    func take() -> Double {
      defer { seconds = 0 }
      return seconds
    }
  }

  /// What one run of the schedule fitted: theta_t at every step (index h; one step in
  /// discounted mode), the least-squares statistics and targets of each step's last fit, and
  /// the log.
  struct ScheduleResult {
    var thetas: [[[Double]]]
    var stats: [[ProblemStatistics]]
    var targets: [[TargetStatistics]]
    var log: [IterationRecord]
  }

  var steps: Int {
    switch parameters.objective {
    case .discounted: 1
    case .finiteHorizon(let horizon, _): horizon
    }
  }

  // MARK: The schedule

  /// Fitted Q-iteration with `solver` as the least-squares step. Discounted: K iterations on
  /// `problems[0]`, each bootstrapping from the previous one. Finite horizon: steps h = H-1 ...
  /// 0 on `problems[h]`, step h bootstrapping from step h + 1 (Q_H = 0). `quiet` runs report no
  /// progress; `label` replaces the iteration number in messages (the outer round).
  func schedule<Solver: FQIStepSolver>(
    _ problems: [[RegressionData]], _ solver: inout Solver, quiet: Bool = false,
    label: Int? = nil
  ) throws(FQIError) -> ScheduleResult {
    let tasks = problems[0].count
    let plan: [(iteration: Int, step: Int)]
    switch parameters.objective {
    case .discounted(_, let iterations):
      plan = (1...max(iterations, 1)).map { ($0, -1) }
    case .finiteHorizon(let horizon, _):
      plan = (0..<horizon).reversed().enumerated().map { ($0.offset + 1, $0.element) }
    }
    var result = ScheduleResult(
      thetas: Array(repeating: [], count: steps), stats: Array(repeating: [], count: steps),
      targets: Array(repeating: [], count: steps), log: [])
    let clips = valueRanges(problems)
    var next: [[Double]?] = Array(repeating: nil, count: tasks)
    // The state before each of the last two iterations: a misbehaving iterate restarts from
    // the one before the iterate that bootstrapped it.
    typealias State = (solver: Solver, next: [[Double]?], result: ScheduleResult)
    var checkpoints: [Int: State] = [:]
    var restarts = 0
    var position = 0
    while position < plan.count {
      let (iteration, step) = plan[position]
      checkpoints[position] = (solver, next, result)
      checkpoints[position - 2] = nil
      let started = Date()
      let h = max(step, 0)
      let name = label ?? iteration
      notices.currentRidge = solver.ridge
      notices.restarts = restarts
      do {
        let targets = try targetStatistics(
          problems[h], next, clips: clips[h], iteration: name, log: result.log)
        let stats = statistics(problems[h], targets)
        let fit = try solver.fit(stats, step: h)
        var record = try makeRecord(
          iteration: iteration, step: step, fit: fit, previous: next, stats: stats,
          targets: targets, started: started)
        record.ridge = solver.ridge
        record.restarts = restarts
        try checkFinite(record.objective, fit.thetas, iteration: name, log: result.log)
        result.log.append(record)
        if !quiet { progress?(method, record) }
        result.thetas[h] = fit.thetas
        result.stats[h] = stats
        result.targets[h] = targets
        next = fit.thetas.map { Optional($0) }
        position += 1
      } catch {
        guard case .diverged = error, restarts < parameters.maxRecoveries,
          let back = checkpoints[max(position - 1, 0)]
        else { throw error }
        // Restart from the last good iterate with a ten times stronger ridge.
        let before = solver.ridge
        let target = before > 0 ? before * 10 : ridgeFloor(problems)
        solver = back.solver
        solver.strengthen(by: solver.ridge > 0 ? target / solver.ridge : 1, floor: target)
        next = back.next
        result = back.result
        restarts += 1
        position = max(position - 1, 0)
        let message =
          "\(method) fitted Q-iteration misbehaved at iteration \(name) (\(error.description.components(separatedBy: ". ").first ?? "")); restarted from iteration \(plan[position].iteration - 1) with ridge \(NumberText.fourDigits(solver.ridge)) (was \(NumberText.fourDigits(before)))"
        notices.append(message)
        noticeHandler?(message)
      }
    }
    return result
  }

  // MARK: Multitask

  /// `singleTask` (finite horizon with a shared B): the single-task fit to initialise from, if
  /// it was computed already (it is computed here otherwise).
  func multitask(_ problems: [[RegressionData]], singleTask: PerTaskFit? = nil) throws(FQIError)
    -> MultitaskFit
  {
    if case .finiteHorizon(let horizon, _) = parameters.objective,
      parameters.sharedRepresentation
    {
      return try multitaskSharedHorizon(problems, horizon: horizon, initial: singleTask)
    }
    var discounted = false
    if case .discounted = parameters.objective { discounted = true }
    var solver = SharedRankKStep(
      solver: parameters.solver, steps: steps, warmStart: discounted)
    let result = try schedule(problems, &solver)
    let representations =
      discounted
      ? [solver.current ?? Matrix(rows: problems[0][0].dimension, columns: parameters.rank)]
      : solver.representations
    let heads =
      discounted && solver.heads[0].rows == 0
      ? [Matrix(rows: parameters.rank, columns: problems[0].count)] : solver.heads
    return MultitaskFit(representations: representations, heads: heads, log: result.log)
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
      var heads = FrozenHeadStep(
        bases: [b], ridge: solver.headRidge, steps: horizon, weightRidge: solver.weightRidge)
      let pass = try schedule(problems, &heads, quiet: true, label: round)
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
      var maxNextUnclipped = [Double](repeating: 0, count: tasks)
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
            maxNext[t] = max(maxNext[t], pass.targets[h][t].maxAbsBootstrapped)
            maxNextUnclipped[t] = max(maxNextUnclipped[t], pass.targets[h][t].maxAbsNextValue)
          }
        }
      } catch {
        throw .linearAlgebra(context: "training log", error: error)
      }
      try checkFinite(objective.total, thetas.flatMap { $0 }, iteration: round, log: log)
      var record = IterationRecord(
        iteration: round, step: -1, sweeps: fit.sweeps, objective: objective.total,
        bellmanResiduals: residuals.map { $0.squareRoot() },
        qChanges: changes.map { $0.squareRoot() }, maxAbsNextQ: maxNext,
        seconds: Date().timeIntervalSince(started), targetSeconds: targetClock.take(),
        ridge: solver.nominalRidge, relativeGradient: fit.relativeGradient,
        objectiveChange: fit.objectiveChange)
      record.maxAbsNextQUnclipped = maxNextUnclipped
      log.append(record)
      progress?(method, record)
      previousThetas = thetas
      let relative =
        scaleTotal > 0 ? (changeTotal / scaleTotal).squareRoot() : changeTotal.squareRoot()
      if round > 1 && relative <= parameters.outerTolerance { break }
    }
    var heads = FrozenHeadStep(
      bases: [b], ridge: solver.headRidge, steps: horizon, weightRidge: solver.weightRidge)
    _ = try schedule(problems, &heads, quiet: true, label: log.count + 1)
    return MultitaskFit(representations: [b], heads: heads.heads, log: log)
  }

  // MARK: Single task (and the oracle)

  /// Full-rank ridge FQI per task on psi: theta_t = (G_t + ridge I)^-1 c_t every iteration
  /// (or every step, backward). The oracle is this with psi = B*^T x and the head ridge.
  func singleTask(_ problems: [[RegressionData]], ridge: Double? = nil) throws(FQIError)
    -> PerTaskFit
  {
    var solver = PerTaskStep(ridge: ridge ?? parameters.ridge, method: method)
    let result = try schedule(problems, &solver)
    let d = problems[0][0].dimension
    return PerTaskFit(
      thetas: result.thetas.map { Matrix(rows: d, columns: $0.count, columnMajor: $0.flatMap { $0 }) },
      log: result.log)
  }

  // MARK: Frozen heads

  /// Heads only, on a frozen representation: `bases` is one B (D x k) for every step or one per
  /// step; the head ridge is `parameters.headRidge`. Returns heads[h] (k x T) and the log.
  func frozenHeads(_ problems: [[RegressionData]], bases: [Matrix]) throws(FQIError)
    -> (heads: [Matrix], log: [IterationRecord])
  {
    var solver = FrozenHeadStep(bases: bases, ridge: parameters.headRidge, steps: steps)
    let result = try schedule(problems, &solver)
    return (solver.heads, result.log)
  }

  // MARK: Targets and the guard

  /// clips[h][t]: the range step h's bootstrapped values are clipped to (nil entries when
  /// clipping is off), from task t's reward range over every step.
  func valueRanges(_ problems: [[RegressionData]]) -> [[ClosedRange<Double>?]] {
    let tasks = problems[0].count
    guard parameters.clipValues else {
      return Array(repeating: Array(repeating: nil, count: tasks), count: problems.count)
    }
    var ranges: [ClosedRange<Double>] = []
    for t in 0..<tasks {
      var low = Double.infinity
      var high = -Double.infinity
      var seen = Set<ObjectIdentifier>()
      for step in problems where seen.insert(ObjectIdentifier(step[t])).inserted {
        for r in step[t].rewards {
          low = min(low, r)
          high = max(high, r)
        }
      }
      ranges.append(low <= high ? low...high : 0...0)
    }
    return problems.indices.map { h in
      ranges.map { Optional(parameters.valueRange(step: h, rewardRange: $0)) }
    }
  }

  /// The ridge a recovery starts from when the ridge is 0: 1e-6 times the mean Gram diagonal.
  func ridgeFloor(_ problems: [[RegressionData]]) -> Double {
    var sum = 0.0
    var count = 0.0
    for problem in problems[0] {
      sum += problem.gram.meanDiagonal
      count += 1
    }
    return max(1e-6 * sum / max(count, 1), Double.leastNormalMagnitude)
  }

  func statistics(_ problems: [RegressionData], _ targets: [TargetStatistics])
    -> [ProblemStatistics]
  {
    zip(problems, targets).map {
      ProblemStatistics(gram: $0.gram, cross: $1.cross, squares: $1.squares)
    }
  }

  /// One pass for the targets, then the divergence check on what was bootstrapped.
  func targetStatistics(
    _ problems: [RegressionData], _ next: [[Double]?], clips: [ClosedRange<Double>?]? = nil,
    iteration: Int, log: [IterationRecord]
  ) throws(FQIError) -> [TargetStatistics] {
    let targets: [TargetStatistics]
    let started = Date()
    defer { targetClock.seconds += Date().timeIntervalSince(started) }
    do {
      targets = try RegressionData.targetStatistics(problems, nextThetas: next, clips: clips)
    } catch {
      throw .linearAlgebra(context: "targets of iteration \(iteration)", error: error)
    }
    // One reward scale for every task: a shared representation gives a task whose logged
    // rewards are all 0 the value scale of the others (its bootstrapped values are clipped to
    // its own range, so its targets stay 0), which is not a divergence.
    let rewardScale = max(
      problems.reduce(0) { max($0, $1.maxAbsReward) }, Double.leastNormalMagnitude)
    let bound = parameters.divergenceFactor * parameters.valueScale * rewardScale
    for (t, target) in targets.enumerated() {
      let finite = target.squares.isFinite && target.maxAbsNextValue.isFinite
      if !finite || target.maxAbsNextValue > bound {
        let what =
          finite
          ? "the largest bootstrapped |Q| is \(NumberText.fourDigits(target.maxAbsNextValue)), more than \(NumberText.fourDigits(parameters.divergenceFactor)) x max|r| x \(valueScaleText) = \(NumberText.fourDigits(bound)) (max|r| over all tasks)"
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

  var ridgeInEffect: Double {
    method == "frozen" || method == "oracle" ? parameters.headRidge : parameters.ridge
  }

  func divergence(
    iteration: Int, task: String, what: String, taskIndex: Int, log: [IterationRecord]
  ) -> FQIError {
    var detail = what
    let history = log.suffix(4).compactMap { record -> String? in
      guard taskIndex < record.bellmanResiduals.count else { return nil }
      return NumberText.fourDigits(record.bellmanResiduals[taskIndex])
    }
    if history.count >= 2 {
      detail +=
        "; its Bellman residual over the last iterations: \(history.joined(separator: " -> "))"
    }
    let ridge = notices.currentRidge ?? ridgeInEffect
    let stronger = ridge > 0 ? ridge * 10 : 1e-3
    var suggestion =
      "A weak ridge lets FQI's least-squares steps amplify errors: rerun with a stronger ridge, e.g. \(ridgeFlag) \(NumberText.fourDigits(stronger)) (now \(NumberText.fourDigits(ridge)))."
    if notices.restarts > 0 {
      suggestion =
        "\(notices.restarts) restart(s) from the last good iterate with ten times stronger ridges, up to \(NumberText.fourDigits(ridge)), did not stop it"
        + (parameters.clipValues
          ? ": the features extrapolate far outside the data; use fewer or smoother features, or a ridge above \(NumberText.fourDigits(ridge)) (\(ridgeFlag) \(NumberText.fourDigits(stronger)))."
          : ": clip the bootstrapped values (the default; clip_values) or use a ridge above \(NumberText.fourDigits(ridge)) (\(ridgeFlag) \(NumberText.fourDigits(stronger))).")
    }
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

  /// A log row: residuals from the statistics (no extra pass over the data).
  func makeRecord(
    iteration: Int, step: Int, fit: StepFit, previous: [[Double]?], stats: [ProblemStatistics],
    targets: [TargetStatistics], started: Date
  ) throws(FQIError) -> IterationRecord {
    var residuals: [Double] = []
    var changes: [Double] = []
    var total = 0.0
    do {
      for (p, problem) in stats.enumerated() {
        let theta = fit.thetas[p]
        var dot = 0.0
        for i in 0..<theta.count { dot += theta[i] * problem.cross[i] }
        let quadratic = try problem.gram.quadratic(theta)
        let residual = problem.squares - 2 * dot + quadratic
        total += residual
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
      iteration: iteration, step: step, sweeps: fit.sweeps,
      objective: fit.objective ?? total + fit.penalty, bellmanResiduals: residuals,
      qChanges: changes, maxAbsNextQ: targets.map(\.maxAbsBootstrapped),
      seconds: Date().timeIntervalSince(started), targetSeconds: targetClock.take(),
      clippedShares: targets.map(\.clippedShare), relativeGradient: fit.relativeGradient,
      objectiveChange: fit.objectiveChange, maxAbsNextQUnclipped: targets.map(\.maxAbsNextValue))
  }
}
