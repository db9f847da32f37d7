import Foundation
import Numerics
import Testing

@testable import MTFQI

/// The one FQI schedule: the optimality certificate of the rank-k step, the clipping range and
/// the recovery from a misbehaving iterate.
@Suite("FQI: certificate, clipping and recovery of the one schedule")
struct FQIScheduleTests {
  /// Random least-squares statistics with targets of full rank (no rank-k structure).
  static func randomProblems(dense: Bool, d: Int, count: Int, seed: UInt64) throws
    -> [ProblemStatistics]
  {
    var problems: [ProblemStatistics] = []
    for p in 0..<count {
      let gram: BlockGram
      if dense {
        let x = RankKSolverTests.gaussian(3 * d, d, seed: seed + 10 + UInt64(p))
        var g = LinearAlgebra.gram(x)
        LinearAlgebra.scale(&g, by: 1 / Double(3 * d))
        gram = BlockGram(blocks: [g])
      } else {
        // One-hot: visit shares, one feature never visited.
        var generator = Xoshiro256StarStar(seed: seed + 1000 + UInt64(p))
        gram = BlockGram(
          diagonal: (0..<d).map { $0 == d - 1 ? 0 : 0.05 + generator.nextUniform() / Double(d) })
      }
      let theta = RankKSolverTests.gaussian(d, 1, seed: seed + 50 + UInt64(p)).storage
      let cross = try gram.multiply(theta)
      problems.append(
        ProblemStatistics(gram: gram, cross: cross, squares: try gram.quadratic(theta) + 0.3))
    }
    return problems
  }

  /// sum_p s_p - 2 theta_p^T c_p + theta_p^T G_p theta_p.
  static func dataFit(_ thetas: [[Double]], _ problems: [ProblemStatistics]) throws -> Double {
    var total = 0.0
    for (theta, problem) in zip(thetas, problems) {
      var dot = 0.0
      for i in theta.indices { dot += theta[i] * problem.cross[i] }
      total += problem.squares - 2 * dot + (try problem.gram.quadratic(theta))
    }
    return total
  }

  @Test(
    "At k >= min(T, D) with small ridges the multitask data fit equals the single-task one (1e-6), from a random start, with a certified stationary point",
    arguments: [false, true])
  func saturatedRankMatchesSingleTask(dense: Bool) throws {
    let tasks = 4
    let d = 9
    let problems = try Self.randomProblems(dense: dense, d: d, count: tasks, seed: 21)
    let solver = RankKSolver(
      rank: tasks, ridge: 1e-9, headRidge: 1e-9, tolerance: 1e-10, maxSweeps: 2000)
    // A random start, not the spectral one: ALS itself must get there.
    let fit = try solver.alternate(
      from: RankKSolverTests.gaussian(d, tasks, seed: 5), problems)
    let product = try RankKSolver.thetas(fit.b, fit.w)
    let multitask = try Self.dataFit((0..<tasks).map { product.column($0) }, problems)
    let single = try Self.dataFit(
      problems.map { try $0.gram.ridgeSolve($0.cross, ridge: 1e-9) }, problems)
    #expect(
      multitask.isApproximatelyEqual(to: single, relativeTolerance: 1e-6),
      "multitask \(multitask), single-task \(single), \(fit.sweeps) sweeps")
    // The certificate: the sweeps stopped on it, and it is what the gradient says.
    #expect(fit.sweeps < 2000)
    #expect(fit.relativeGradient <= 1e-10 && fit.objectiveChange <= 1e-10)
    #expect(try solver.relativeGradient(fit.b, fit.w, problems) == fit.relativeGradient)
    // A small step along minus the gradient's B part cannot lower J by more than second order.
    let before = try solver.objective(fit.b, fit.w, problems).total
    var moved = fit.b
    var generator = Xoshiro256StarStar(seed: 8)
    for i in moved.storage.indices { moved.storage[i] += 1e-5 * generator.nextNormal() }
    #expect(try solver.objective(moved, fit.w, problems).total >= before - 1e-9 * abs(before))
  }

  @Test(
    "With the ridge on theta, rank min(T, D) is the single-task ridge fit for a strong ridge (1e-6), from a random start, certified; the objective counts the ridge, the residuals do not",
    arguments: [false, true])
  func thetaRidgeSaturatedIsSingleTask(dense: Bool) throws {
    let tasks = 4
    let d = 9
    let problems = try Self.randomProblems(dense: dense, d: d, count: tasks, seed: 33)
    let ridge = 0.1 * problems[0].gram.meanDiagonal
    var parameters = FQIParameters(
      objective: .discounted(gamma: 0.9, iterations: 1), rank: tasks, ridge: ridge,
      alsTolerance: 1e-10, alsMaxSweeps: 2000)
    parameters.ridgeForm = .theta
    let solver = parameters.solver
    #expect(solver.weightRidge == ridge && solver.nominalRidge == ridge)
    #expect(solver.ridge == FQIParameters.factorJitter * ridge && solver.headRidge == solver.ridge)
    let fit = try solver.alternate(from: RankKSolverTests.gaussian(d, tasks, seed: 6), problems)
    let product = try RankKSolver.thetas(fit.b, fit.w)
    for (p, problem) in problems.enumerated() {
      let single = try problem.gram.ridgeSolve(problem.cross, ridge: ridge)
      let theta = product.column(p)
      var error = 0.0
      var norm = 0.0
      for i in 0..<d {
        error += (theta[i] - single[i]) * (theta[i] - single[i])
        norm += single[i] * single[i]
      }
      #expect((error / norm).squareRoot() <= 1e-6, "task \(p): \((error / norm).squareRoot())")
    }
    #expect(fit.sweeps < 2000 && fit.relativeGradient <= 1e-10)
    // The factor ridge at the same strength does not give the single-task fit (it is a
    // different penalty): the forms really differ.
    let factors = RankKSolver(
      rank: tasks, ridge: ridge, headRidge: ridge, tolerance: 1e-10, maxSweeps: 2000)
    let factorFit = try factors.alternate(from: RankKSolverTests.gaussian(d, tasks, seed: 6), problems)
    let factorTheta = try RankKSolver.thetas(factorFit.b, factorFit.w).column(0)
    let single = try problems[0].gram.ridgeSolve(problems[0].cross, ridge: ridge)
    #expect(zip(factorTheta, single).contains { abs($0 - $1) > 1e-3 * max(abs($1), 1e-3) })
    // J = data fit + ridge sum_p ||theta_p||^2 + the jitter terms; residuals = data fit alone.
    let thetas = (0..<tasks).map { product.column($0) }
    let objective = try solver.objective(fit.b, fit.w, problems)
    var penalty = 0.0
    for theta in thetas { for value in theta { penalty += ridge * value * value } }
    let fitTerm = try Self.dataFit(thetas, problems)
    #expect(objective.residuals.reduce(0, +).isApproximatelyEqual(to: fitTerm, relativeTolerance: 1e-9))
    #expect(objective.total.isApproximatelyEqual(to: fitTerm + penalty, relativeTolerance: 1e-6))
  }

  @Test("With the ridge on theta below full rank, ALS ends at a certified stationary point of that objective")
  func thetaRidgeCertificate() throws {
    let problems = try Self.randomProblems(dense: true, d: 8, count: 5, seed: 9)
    var parameters = FQIParameters(
      objective: .discounted(gamma: 0.9, iterations: 1), rank: 2,
      ridge: 1e-2 * problems[0].gram.meanDiagonal, alsTolerance: 1e-9, alsMaxSweeps: 3000)
    parameters.ridgeForm = .theta
    let solver = parameters.solver
    let fit = try solver.alternate(from: RankKSolverTests.gaussian(8, 2, seed: 4), problems)
    #expect(fit.sweeps < 3000 && fit.relativeGradient <= 1e-9, "\(fit.sweeps) sweeps")
    #expect(try solver.relativeGradient(fit.b, fit.w, problems) == fit.relativeGradient)
    // Random small moves of B or W do not lower J by more than second order.
    let before = try solver.objective(fit.b, fit.w, problems).total
    var generator = Xoshiro256StarStar(seed: 12)
    for _ in 0..<5 {
      var b = fit.b
      var w = fit.w
      for i in b.storage.indices { b.storage[i] += 1e-5 * generator.nextNormal() }
      for i in w.storage.indices { w.storage[i] += 1e-5 * generator.nextNormal() }
      #expect(try solver.objective(b, w, problems).total >= before - 1e-9 * abs(before))
    }
    // Strengthening multiplies the ridge on theta and the jitter alike.
    var stronger = solver
    stronger.strengthen(by: 10, floor: 1)
    #expect(stronger.weightRidge == 10 * solver.weightRidge && stronger.ridge == 10 * solver.ridge)
  }

  @Test("mtfqi-train warns when an iteration's ALS stopped at the sweep cap before the certificate, and only then")
  func certificateWarning() {
    func record(_ iteration: Int, sweeps: Int, gradient: Double) -> IterationRecord {
      IterationRecord(
        iteration: iteration, step: -1, sweeps: sweeps, objective: 1, bellmanResiduals: [0],
        qChanges: [0], maxAbsNextQ: [0], seconds: 0, ridge: 1e-3, relativeGradient: gradient)
    }
    let parameters = FQIParameters(
      objective: .discounted(gamma: 0.9, iterations: 3), rank: 2, ridge: 1e-3,
      alsTolerance: 1e-6, alsMaxSweeps: 100)
    let certified = [record(1, sweeps: 12, gradient: 3e-7), record(2, sweeps: 4, gradient: 1e-6)]
    #expect(Trainer.certificateWarning(certified, parameters: parameters) == nil)
    let capped = certified + [record(3, sweeps: 100, gradient: 2.9e-5)]
    let warning = Trainer.certificateWarning(capped, parameters: parameters)
    #expect(warning?.contains("in 1 of 3 multitask iteration(s)") == true, "\(warning ?? "nil")")
    #expect(warning?.contains("2.900e-05") == true && warning?.contains("--als-max-sweeps") == true)
    // Closed-form iterations (0 sweeps) are exact, whatever their record says.
    #expect(Trainer.certificateWarning([record(1, sweeps: 0, gradient: 1)], parameters: parameters) == nil)
  }

  @Test("Balancing keeps B W and never raises the ridge terms; ALS stops far sooner with it")
  func balancing() throws {
    let problems = try Self.randomProblems(dense: true, d: 8, count: 5, seed: 3)
    let solver = RankKSolver(rank: 3, ridge: 1e-6, headRidge: 1e-6, tolerance: 1e-8, maxSweeps: 400)
    let b = RankKSolverTests.gaussian(8, 3, seed: 1)
    var w = RankKSolverTests.gaussian(3, 5, seed: 2)
    LinearAlgebra.scale(&w, by: 30)
    let (nb, nw) = try solver.balanced(b, w)
    let before = try RankKSolver.thetas(b, w)
    let after = try RankKSolver.thetas(nb, nw)
    for i in before.storage.indices {
      #expect(after.storage[i].isApproximatelyEqual(to: before.storage[i], absoluteTolerance: 1e-10))
    }
    #expect(
      try solver.objective(nb, nw, problems).total <= solver.objective(b, w, problems).total)
    let fit = try solver.alternate(from: b, problems)
    #expect(fit.sweeps < 400, "\(fit.sweeps) sweeps, relative gradient \(fit.relativeGradient)")
  }

  /// Three states, one action: psi(0) = (1, delta), psi(1) = (0, 1), psi(2) = (1, -delta); ten
  /// rows 0 -> 1 with reward 1 and ten rows 2 -> 1 with reward 0. The second feature is seen
  /// only at scale delta, so a weak ridge extrapolates Q(1) = (delta / 2) / (delta^2 + ridge).
  static func plantedDivergence(delta: Double = 1e-3) throws -> [[RegressionData]] {
    var observations: [Double] = []
    var rewards: [Double] = []
    for i in 0..<20 {
      observations.append(i < 10 ? 0 : 2)
      rewards.append(i < 10 ? 1 : 0)
    }
    let task = TaskTransitions(
      name: "planted", observationSpace: .discrete(n: 3, start: 0),
      actionSpace: .discrete(n: 1, start: 0), observations: observations,
      nextObservations: Array(repeating: 1, count: 20), actions: Array(repeating: 0, count: 20),
      rewards: rewards, terminations: Array(repeating: 0, count: 20),
      steps: Array(repeating: 0, count: 20))
    let map = FeatureMap(
      spec: FeatureMapSpec(kind: .table, table: "(planted)", normalize: false),
      observationSpace: task.observationSpace, actionSpace: task.actionSpace, dimension: 2,
      structure: .pairs(states: 3, actions: 1), table: [1, delta, 0, 1, 1, -delta])
    return [try RegressionData.build([(task, nil)], featureMap: map, discount: 0.9)]
  }

  @Test(
    "A planted divergence is detected at the first bootstrap and recovers with a ten times stronger ridge from the last good iterate; without recoveries it stops"
  )
  func recovery() throws {
    let problems = try Self.plantedDivergence()
    let parameters = FQIParameters(
      objective: .discounted(gamma: 0.9, iterations: 20), rank: 1, ridge: 1e-6)
    var runner = FittedQIteration(parameters: parameters, taskNames: ["planted"])
    runner.method = "single-task"
    let fit = try runner.singleTask(problems)
    #expect(fit.log.count == 20)
    #expect(fit.log.first?.ridge == 1e-6 * 10 && fit.log.last?.restarts == 1, "\(fit.log.map(\.ridge))")
    #expect(runner.notices.messages.count == 1)
    #expect(runner.notices.messages.first?.contains("misbehaved at iteration 2") == true)
    #expect(runner.notices.messages.first?.contains("ridge 1.000e-05 (was 1.000e-06)") == true)
    // Q(1) = theta_2 = (delta / 2) / (delta^2 + 1e-5): inside the guard, bounded.
    let theta = fit.thetas[0].column(0)
    #expect(theta[1].isApproximatelyEqual(to: 5e-4 / (1e-6 + 1e-5), relativeTolerance: 1e-9))
    var strict = parameters
    strict.maxRecoveries = 0
    var failing = FittedQIteration(parameters: strict, taskNames: ["planted"])
    failing.method = "single-task"
    do {
      _ = try failing.singleTask(problems)
      Issue.record("expected divergence")
    } catch {
      #expect(error.description.contains("single-task fitted Q-iteration diverged at iteration 2"))
    }
  }

  @Test(
    "Clipping: bootstrapped values stay in [min(r_min, 0), max(r_max, 0)] x 1/(1 - gamma) or x the remaining discount sum"
  )
  func clippingRange() throws {
    let discounted = FQIParameters(
      objective: .discounted(gamma: 0.9, iterations: 1), rank: 1, ridge: 0)
    let range = discounted.valueRange(step: 0, rewardRange: -1...2)
    #expect(range.lowerBound.isApproximatelyEqual(to: -10, relativeTolerance: 1e-12))
    #expect(range.upperBound.isApproximatelyEqual(to: 20, relativeTolerance: 1e-12))
    #expect(discounted.valueRange(step: 0, rewardRange: 1...2).lowerBound == 0)
    let finite = FQIParameters(
      objective: .finiteHorizon(horizon: 4, gamma: 0.5), rank: 1, ridge: 0)
    // Step h bootstraps V_{h+1}: H - h - 1 rewards remain.
    #expect(finite.valueRange(step: 3, rewardRange: 0...1) == 0...0)
    #expect(finite.valueRange(step: 2, rewardRange: 0...1) == 0...1)
    #expect(finite.valueRange(step: 0, rewardRange: 0...1) == 0...1.75)
    // The planted problem at ridge 1e-6 with clipping but no guard: every target stays in
    // [0, 1] + 0.9 [0, 10], so theta_1 = mean target <= 10.
    var parameters = FQIParameters(
      objective: .discounted(gamma: 0.9, iterations: 30), rank: 1, ridge: 1e-6,
      divergenceFactor: 1e300)
    parameters.maxRecoveries = 0
    let runner = FittedQIteration(parameters: parameters, taskNames: ["planted"])
    let fit = try runner.singleTask(try Self.plantedDivergence())
    let theta = fit.thetas[0].column(0)
    #expect(theta[0] <= 10 && theta[0] >= 0, "\(theta)")
    #expect(fit.log.last?.clippedShares == [1])
    // The log says both: what the features extrapolate to (the guard's number) and what the
    // targets bootstrapped (inside [0, 10] by construction).
    #expect((fit.log.last?.maxAbsNextQUnclipped.first ?? 0) > 10)
    for record in fit.log {
      #expect(record.maxAbsNextQ.allSatisfy { $0 <= 10 * (1 + 1e-12) }, "\(record.maxAbsNextQ)")
    }
  }
}
