import Foundation

/// What one FQI iteration fitted on the statistics of every problem at one step.
struct StepFit {
  /// theta_p (D-vectors, psi^T theta_p = Q) for every problem p.
  var thetas: [[Double]]
  /// ALS sweeps (0 for closed-form solvers).
  var sweeps = 0
  /// The full objective J with the solver's ridge terms, when the solver knows it; nil: the
  /// record computes sum_p residual_p + `penalty`.
  var objective: Double?
  /// The ridge terms (used when `objective` is nil).
  var penalty = 0.0
  /// The optimality certificate (0 for closed-form solves, which are exact).
  var relativeGradient = 0.0
  var objectiveChange = 0.0
}

/// The regression one FQI iteration solves, pluggable into `FittedQIteration.schedule`:
/// the schedule computes the targets (one target function, one guard) and hands each step's
/// least-squares statistics to a solver.
///
/// Solvers are value types: the schedule copies one to keep a checkpoint (the state after the
/// last good iterate) and restores it when an iterate misbehaves.
protocol FQIStepSolver {
  /// The ridge in effect (named in messages and in the training log).
  var ridge: Double { get }
  /// Fits step h (0 in discounted mode) on `stats` (one entry per problem).
  mutating func fit(_ stats: [ProblemStatistics], step h: Int) throws(FQIError) -> StepFit
  /// Multiplies the ridge by `factor` (from `floor` when it is 0): the recovery from a
  /// misbehaving iterate.
  mutating func strengthen(by factor: Double, floor: Double)
}

/// Multitask: the joint rank-k ridge problem over every task (shared B, heads W) by
/// `RankKSolver`; warm-started from the previous iteration's B in discounted mode, from the
/// spectral initialisation at every step with one B per step.
struct SharedRankKStep: FQIStepSolver {
  var solver: RankKSolver
  var warmStart: Bool
  /// B and W of every step fitted (index h; one entry in discounted mode).
  var representations: [Matrix]
  var heads: [Matrix]
  var current: Matrix?

  init(solver: RankKSolver, steps: Int, warmStart: Bool) {
    self.solver = solver
    self.warmStart = warmStart
    representations = Array(repeating: Matrix(rows: 0, columns: 0), count: steps)
    heads = Array(repeating: Matrix(rows: 0, columns: 0), count: steps)
  }

  var ridge: Double { solver.nominalRidge }

  mutating func fit(_ stats: [ProblemStatistics], step h: Int) throws(FQIError) -> StepFit {
    // With k >= min(T, D) the rank constraint does not bind and the spectral start of this
    // iteration's per-task ridge solutions is already (nearly) optimal; a warm start from the
    // previous B would have to rotate into the new span sweep by sweep.
    let saturated = solver.rank >= min(stats.count, stats.first?.gram.dimension ?? 0)
    let start: Matrix
    if warmStart, !saturated, let current {
      start = current
    } else {
      start = try RankKSolver.spectralInitialisation(
        try solver.ridgeSolutions(stats), rank: solver.rank)
    }
    let fit = try solver.alternate(from: start, stats)
    let product: Matrix
    do {
      product = try RankKSolver.thetas(fit.b, fit.w)
    } catch {
      throw .linearAlgebra(context: "B W", error: error)
    }
    current = fit.b
    representations[h] = fit.b
    heads[h] = fit.w
    return StepFit(
      thetas: (0..<stats.count).map { product.column($0) }, sweeps: fit.sweeps,
      objective: fit.objective, relativeGradient: fit.relativeGradient,
      objectiveChange: fit.objectiveChange)
  }

  mutating func strengthen(by factor: Double, floor: Double) {
    solver.strengthen(by: factor, floor: floor)
  }
}

/// Single task (and the oracle): full-rank ridge per problem, theta_p = (G_p + ridge I)^-1 c_p.
struct PerTaskStep: FQIStepSolver {
  var ridge: Double
  /// Named in linear-algebra errors.
  var method: String

  mutating func fit(_ stats: [ProblemStatistics], step h: Int) throws(FQIError) -> StepFit {
    var thetas: [[Double]] = []
    var penalty = 0.0
    for problem in stats {
      do {
        let theta = try problem.gram.ridgeSolve(problem.cross, ridge: ridge)
        for value in theta { penalty += ridge * value * value }
        thetas.append(theta)
      } catch {
        throw .linearAlgebra(context: "\(method) ridge solution", error: error)
      }
    }
    return StepFit(thetas: thetas, penalty: penalty)
  }

  mutating func strengthen(by factor: Double, floor: Double) {
    ridge = ridge > 0 ? ridge * factor : floor
  }
}

/// Frozen representation: only the heads, w_p = (B^T G_p B + ridge I)^-1 B^T c_p with B fixed
/// (B_h at step h when there is one per step), theta_p = B w_p. Used by `mtfqi-fit` and by the
/// backward passes of finite-horizon training with one shared B.
struct FrozenHeadStep: FQIStepSolver {
  /// One B for every step, or one per step (index h).
  var bases: [Matrix]
  var ridge: Double
  /// A ridge on every theta_p = B w_p besides the one on w_p (`RankKSolver.weightRidge`; the
  /// backward passes of a multitask fit with `RidgeForm.theta`).
  var weightRidge: Double
  /// heads[h] is k x P.
  var heads: [Matrix]

  init(bases: [Matrix], ridge: Double, steps: Int, weightRidge: Double = 0) {
    self.bases = bases
    self.ridge = ridge
    self.weightRidge = weightRidge
    heads = Array(repeating: Matrix(rows: 0, columns: 0), count: steps)
  }

  mutating func fit(_ stats: [ProblemStatistics], step h: Int) throws(FQIError) -> StepFit {
    let b = bases.count == 1 ? bases[0] : bases[h]
    let (solver, problems) = RankKSolver(
      rank: b.columns, ridge: 0, headRidge: ridge, tolerance: 0, maxSweeps: 1,
      weightRidge: weightRidge
    ).penalised(stats)
    let w: Matrix
    let product: Matrix
    do {
      w = try solver.heads(b, problems)
      product = try RankKSolver.thetas(b, w)
    } catch {
      throw .linearAlgebra(context: "heads at step \(h)", error: error)
    }
    heads[h] = w
    var penalty = 0.0
    for value in w.storage { penalty += ridge * value * value }
    for value in product.storage { penalty += weightRidge * value * value }
    return StepFit(thetas: (0..<stats.count).map { product.column($0) }, penalty: penalty)
  }

  mutating func strengthen(by factor: Double, floor: Double) {
    weightRidge *= factor
    ridge = ridge > 0 ? ridge * factor : (weightRidge > 0 ? ridge : floor)
  }
}
