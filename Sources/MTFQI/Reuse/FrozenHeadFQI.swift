import Foundation

/// Fitted Q-iteration for one task with the representation frozen: Q(s, a) = phi(s, a)^T w, and
/// every iteration is a k-dimensional ridge regression of the Bellman targets, in closed form.
///
/// With the MEAN convention of `mtfqi-train` (schemas/model.md):
///
///     w = argmin (1/n) ||y - Phi w||^2 + headRidge ||w||^2 = (Phi^T Phi / n + headRidge I)^-1 Phi^T y / n
///     y_i = r_i + gamma (1 - terminated_i) max_a' phiNext(i, a')^T w_prev   (y = r at the first fit)
///
/// Discounted: K iterations on the same rows. Finite horizon: steps h = H-1 ... 0 backward with
/// w_H = 0, step h fitted on all rows (`pooled`) or on the rows whose step column is h
/// (`per_step`); with one B per step, step h regresses on features under B_h and bootstraps
/// with next-state features under B_{h+1}.
///
/// `features[r]` holds the materialised features of every row of the task under basis r;
/// `featureSteps[h]` says which r step h uses (a single entry in discounted mode). Sums run in
/// row order, so the result is deterministic; the Python example in tools/ repeats it in numpy.
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

  var gamma: Double {
    switch objective {
    case .discounted(let gamma, _), .finiteHorizon(_, let gamma): gamma
    }
  }

  var valueScale: Double {
    FQIParameters(objective: objective, rank: 1, ridge: 0).valueScale
  }

  /// The rows each step regresses on: `rows` (the training rows) at every step, or (per-step
  /// data) those of them whose step column is h. Throws `.guardrail` for a step without rows.
  func rowsByStep(_ rows: [Int], steps: [Int64]) throws(FQIError) -> [[Int]] {
    switch objective {
    case .discounted:
      return [rows]
    case .finiteHorizon(let horizon, _):
      if stepData == .pooled { return Array(repeating: rows, count: horizon) }
      var result = [[Int]](repeating: [], count: horizon)
      for row in rows {
        let step = steps[row]
        guard step >= 0 && step < Int64(horizon) else {
          throw .guardrail(
            "task \(task): /tasks/\(task)/step row \(row) is \(step), outside 0..<\(horizon): per-step fitting needs every step index below the horizon"
          )
        }
        result[Int(step)].append(row)
      }
      for (h, selected) in result.enumerated() where selected.isEmpty {
        throw .guardrail(
          "task \(task) has no transitions at step \(h): per-step fitting (--step-data per-step) needs data at every step; use pooled step data"
        )
      }
      return result
    }
  }

  /// Runs FQI on `rows` (indices into the features; all rows of the task when nil).
  func fit(_ features: [MaterializedFeatures], featureSteps: [Int], rows: [Int]? = nil)
    throws(FQIError) -> Fit
  {
    let base = features[0]
    let rows = rows ?? Array(0..<base.rows)
    let k = base.rank
    let byStep = try rowsByStep(rows, steps: base.steps)
    let maxAbsReward = rows.reduce(0.0) { max($0, base.rewards[$1].magnitude) }
    let discount = gamma
    var log: [IterationRecord] = []

    /// One fit of w on `selected` rows of `phi`, targets bootstrapped from `next` (features,
    /// head) when given.
    func step(
      iteration: Int, step h: Int, phi: MaterializedFeatures, selected: [Int],
      next: (features: MaterializedFeatures, w: [Double])?, previous: [Double]?
    ) throws(FQIError) -> [Double] {
      let started = Date()
      let n = selected.count
      try checkSampleSize(n, k: k, gram: Self.gram(phi, selected))
      var targets = [Double](repeating: 0, count: n)
      var maxAbsNext = 0.0
      for (index, row) in selected.enumerated() {
        var y = phi.rewards[row]
        if let next, phi.terminations[row] == 0 {
          let value = Self.maxNextValue(next.features, row: row, w: next.w)
          maxAbsNext = max(maxAbsNext, value.magnitude)
          y += discount * value
        }
        targets[index] = y
      }
      let bound = divergenceFactor * valueScale * max(maxAbsReward, Double.leastNormalMagnitude)
      if !maxAbsNext.isFinite || maxAbsNext > bound || targets.contains(where: { !$0.isFinite }) {
        throw divergence(
          iteration: iteration,
          what: maxAbsNext.isFinite
            ? "the largest bootstrapped |Q| is \(short(maxAbsNext)), more than \(short(divergenceFactor)) x max|r| x \(short(valueScale)) = \(short(bound))"
            : "the targets are no longer finite", log: log)
      }
      let w = try Self.solve(phi, selected, targets, ridge: headRidge, k: k)
      if w.contains(where: { !$0.isFinite }) {
        throw divergence(iteration: iteration, what: "its head is no longer finite", log: log)
      }
      // Log: RMS residual and change over the rows, mean-convention objective.
      var residual = 0.0
      var change = 0.0
      for (index, row) in selected.enumerated() {
        var q = 0.0
        var old = 0.0
        for j in 0..<k {
          q += phi.phi[row * k + j] * w[j]
          old += phi.phi[row * k + j] * (previous?[j] ?? 0)
        }
        residual += (targets[index] - q) * (targets[index] - q)
        change += (q - old) * (q - old)
      }
      let scale = 1 / Double(max(n, 1))
      let norm = w.reduce(0) { $0 + $1 * $1 }
      let record = IterationRecord(
        iteration: iteration, step: h, sweeps: 0, objective: residual * scale + headRidge * norm,
        bellmanResiduals: [(residual * scale).squareRoot()],
        qChanges: [(change * scale).squareRoot()], maxAbsNextQ: [maxAbsNext],
        seconds: Date().timeIntervalSince(started))
      log.append(record)
      progress?(method, record)
      return w
    }

    switch objective {
    case .discounted(_, let iterations):
      let phi = features[featureSteps[0]]
      var w: [Double]?
      for iteration in 1...max(iterations, 1) {
        w = try step(
          iteration: iteration, step: -1, phi: phi, selected: byStep[0],
          next: w.map { (phi, $0) }, previous: w)
      }
      return Fit(heads: [w ?? [Double](repeating: 0, count: k)], log: log)
    case .finiteHorizon(let horizon, _):
      var heads = [[Double]](repeating: [], count: horizon)
      var next: (features: MaterializedFeatures, w: [Double])?
      for (index, h) in (0..<horizon).reversed().enumerated() {
        let phi = features[featureSteps[h]]
        let w = try step(
          iteration: index + 1, step: h, phi: phi, selected: byStep[h], next: next,
          previous: next?.w)
        heads[h] = w
        next = (phi, w)
      }
      return Fit(heads: heads, log: log)
    }
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

  /// Phi^T Phi / n over `selected` rows (k x k, exactly symmetric), summed in row order.
  static func gram(_ features: MaterializedFeatures, _ selected: [Int]) -> Matrix {
    let k = features.rank
    var g = Matrix(rows: k, columns: k)
    for row in selected {
      for l in 0..<k {
        let value = features.phi[row * k + l]
        for j in 0...l { g.storage[j + l * k] += features.phi[row * k + j] * value }
      }
    }
    let scale = 1 / Double(max(selected.count, 1))
    for l in 0..<k {
      for j in 0...l {
        g.storage[j + l * k] *= scale
        g.storage[l + j * k] = g.storage[j + l * k]
      }
    }
    return g
  }

  /// w = (G + ridge I)^-1 Phi^T y / n by Cholesky (LAPACK).
  static func solve(
    _ features: MaterializedFeatures, _ selected: [Int], _ targets: [Double], ridge: Double, k: Int
  ) throws(FQIError) -> [Double] {
    var cross = [Double](repeating: 0, count: k)
    for (index, row) in selected.enumerated() {
      for j in 0..<k { cross[j] += features.phi[row * k + j] * targets[index] }
    }
    let scale = 1 / Double(max(selected.count, 1))
    let rhs = Matrix(rows: k, columns: 1, columnMajor: cross.map { $0 * scale })
    do {
      return try LinearAlgebra.ridgeSolve(gram(features, selected), rhs, ridge: ridge).storage
    } catch {
      throw .linearAlgebra(context: "frozen-head ridge fit", error: error)
    }
  }

  /// Guardrail: fewer than 2k rows need a head ridge of at least 1e-3 times the mean Gram
  /// diagonal (the same rule as `mtfqi-train` for D).
  func checkSampleSize(_ n: Int, k: Int, gram: Matrix) throws(FQIError) {
    guard n < 2 * k else { return }
    var trace = 0.0
    for i in 0..<k { trace += gram.storage[i + i * k] }
    let floor = 1e-3 * trace / Double(max(k, 1))
    if headRidge < floor {
      throw .guardrail(
        "task \(task) has \(n) transitions for k = \(k) frozen features (fewer than 2k = \(2 * k)): the head is underdetermined without enough regularisation; use --head-ridge \(short(floor)) or more, or more data"
      )
    }
  }

  func divergence(iteration: Int, what: String, log: [IterationRecord]) -> FQIError {
    var detail = what
    let history = log.suffix(4).map { short($0.bellmanResiduals.first ?? .nan) }
    if history.count >= 2 {
      detail +=
        "; its Bellman residual over the last iterations: \(history.joined(separator: " -> "))"
    }
    let stronger = headRidge > 0 ? headRidge * 10 : 1e-3
    return .diverged(
      method: method, iteration: iteration, task: task, detail: detail,
      suggestion:
        "With frozen features the targets can leave the span of phi-hat and FQI can amplify the error: rerun with a stronger head ridge, e.g. --head-ridge \(short(stronger)) (now \(short(headRidge))), or check that the representation suits this task."
    )
  }
}
