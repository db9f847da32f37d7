import Foundation

/// Fitted Q-iteration for one task with the representation frozen: Q(s, a) = psi(s, a)^T B w,
/// and every iteration is a k-dimensional ridge regression of the Bellman targets, in closed
/// form (`FrozenHeadStep` in the one FQI schedule, `FittedQIteration.schedule`).
///
/// With the MEAN convention of `mtfqi-train` (schemas/model.md):
///
///     w = argmin (1/n) ||y - Psi B w||^2 + headRidge ||w||^2 = (B^T G B + headRidge I)^-1 B^T Psi^T y / n
///     y_i = r_i + gamma (1 - terminated_i) max_a' psi(s'_i, a')^T B w_prev   (y = r at the first fit)
///
/// Discounted: K iterations on the same rows. Finite horizon: steps h = H-1 ... 0 backward with
/// w_H = 0, step h fitted on all rows (`pooled`) or on the rows whose step column is h
/// (`per_step`); with one B per step, step h regresses on psi^T B_h and bootstraps with
/// theta_{h+1} = B_{h+1} w_{h+1}, i.e. with next-state features under B_{h+1}.
struct FrozenHeadFQI {
  let objective: FQIParameters.Objective
  let headRidge: Double
  let divergenceFactor: Double
  let stepData: TrainConfig.StepData
  let task: String
  /// "frozen" or "oracle": named in progress and messages.
  var method = "frozen"
  var progress: (@Sendable (String, IterationRecord) -> Void)?

  /// The heads (one k-vector per step; one in discounted mode) and the log.
  struct Fit: Sendable {
    var heads: [[Double]]
    var log: [IterationRecord]
  }

  var parameters: FQIParameters {
    FQIParameters(
      objective: objective, rank: 1, ridge: headRidge, headRidge: headRidge,
      divergenceFactor: divergenceFactor)
  }

  /// The task's regression problems on psi (problems[h][0]; one step in discounted mode),
  /// restricted to `rows` (all rows when nil).
  func problems(_ task: TaskTransitions, rows: [Int]?, featureMap: FeatureMap) throws(FQIError)
    -> [[RegressionData]]
  {
    let subset = rows.map { task.selecting($0) } ?? task
    var config = TrainConfig()
    switch objective {
    case .discounted(let gamma, let iterations):
      config.mode = .discounted
      config.gamma = gamma
      config.iterations = iterations
    case .finiteHorizon(let horizon, let gamma):
      config.mode = .finiteHorizon
      config.gamma = gamma
      config.horizon = horizon
    }
    config.stepData = stepData
    return try RegressionData.problems([subset], featureMap: featureMap, config: config)
  }

  /// Runs FQI on `problems` (psi, one task) with `bases` frozen: one B for every step, or one
  /// per step (index h).
  func fit(_ problems: [[RegressionData]], bases: [Matrix]) throws(FQIError) -> Fit {
    for (h, step) in problems.enumerated() {
      let b = bases.count == 1 ? bases[0] : bases[h]
      try checkSampleSize(step[0], b: b)
    }
    var runner = FittedQIteration(parameters: parameters, taskNames: [task])
    runner.method = method
    runner.ridgeFlag = "--head-ridge"
    runner.progress = progress
    let fit = try runner.frozenHeads(problems, bases: bases)
    return Fit(heads: fit.heads.map { $0.column(0) }, log: fit.log)
  }

  /// max over a' of phiNext(row, a')^T w.
  static func maxNextValue(_ features: MaterializedFeatures, row: Int, w: [Double]) -> Double {
    let k = features.rank
    var best = -Double.infinity
    for a in 0..<features.actions {
      var value = 0.0
      let offset = (row * features.actions + a) * k
      for j in 0..<k { value += features.phiNext[offset + j] * w[j] }
      best = max(best, value)
    }
    return best
  }

  /// Guardrail: refuse only what is not identifiable. With a head ridge > 0 the head is
  /// always determined (clipping and the recovery keep FQI bounded); with head ridge 0 a task
  /// with fewer rows than k frozen features has a singular k x k Gram matrix.
  func checkSampleSize(_ problem: RegressionData, b: Matrix) throws(FQIError) {
    let k = b.columns
    let n = problem.count
    guard headRidge == 0, n < k else { return }
    let projected: Matrix
    do {
      projected = try problem.gram.projected(b)
    } catch {
      throw .linearAlgebra(context: "frozen-head Gram matrix", error: error)
    }
    var trace = 0.0
    for i in 0..<k { trace += projected.storage[i + i * k] }
    let suggestion = Trainer.suggestedRidge(1e-6 * trace / Double(max(k, 1)))
    throw .guardrail(
      "task \(task) has \(n) transitions for k = \(k) frozen features (fewer rows than features): with head ridge 0 the head is not identifiable; use a head ridge > 0 (--head-ridge \(suggestion) is 1e-6 times the mean diagonal of its Gram matrix), or more data"
    )
  }
}
