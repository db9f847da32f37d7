import Foundation
import Numerics
import Testing

@testable import MTFQI

/// Known answers for the metrics against truth, computed by hand on a two-state MDP, and the
/// truth's own Q* on a synthetic family.
@Suite("Evaluate: metrics against the truth")
struct EvaluateMetricsTests {
  /// Two states, two actions: action 0 stays, action 1 switches; r(1, 0) = 1, else 0.
  /// Discounted (gamma 0.5): V* = (1, 2), Q* = [[0.5, 1], [2, 0.5]].
  /// Finite horizon (H = 2, no discount): Q*_1 = r, V*_1 = (0, 1); Q*_0 = [[0, 1], [2, 0]], V*_0 = (1, 2).
  static func twoStateTruth(horizon: Int? = nil) -> EvaluationTruth {
    let transition: [Double] = [
      1, 0, 0, 1,  // s = 0: a = 0 -> 0, a = 1 -> 1
      0, 1, 1, 0,  // s = 1: a = 0 -> 1, a = 1 -> 0
    ]
    let rewards: [Double] = [0, 0, 1, 0]
    let qStar: [Double] = horizon == nil ? [0.5, 1, 2, 0.5] : [0, 1, 2, 0, 0, 0, 1, 0]
    let vStar: [Double] = horizon == nil ? [1, 2] : [1, 2, 0, 1]
    let task = EvaluationTruth.Task(
      name: "t", group: "train", rewards: rewards, qStar: qStar, vStar: vStar,
      mu: [0.1, 0.2, 0.3, 0.4])
    return EvaluationTruth(
      path: "(hand)", sha256: "", states: 2, actions: 2, rank: 2, dim: 2,
      mode: horizon == nil ? "discounted" : "finite_horizon", discount: horizon == nil ? 0.5 : 1,
      horizon: horizon, transition: transition, start: [0.5, 0.5],
      phiStar: Matrix.identity(4).columns(0..<2), x: [], bStar: Matrix.identity(2),
      tasks: ["t": task],
      trainingTasks: ["t"], heldOutTasks: [])
  }

  @Test("Discounted: Q errors under mu and uniform; greedy values by a linear solve")
  func discountedKnownAnswer() throws {
    let truth = Self.twoStateTruth()
    let task = try #require(truth.tasks["t"])
    let exact = try MethodMetrics.compute(
      method: "oracle", tables: [task.qStar], task: task, truth: truth)
    #expect(exact.qErrorUniform == 0 && exact.qErrorMu == 0)
    #expect(abs(exact.suboptimality) < 1e-14 && abs(exact.suboptimalityMax) < 1e-14)
    #expect(exact.qErrorUniformPerStep == nil)
    // Q* + 0.1 everywhere: the same greedy policy, error 0.1 by either measure.
    let shifted = try MethodMetrics.compute(
      method: "multitask", tables: [task.qStar.map { $0 + 0.1 }], task: task, truth: truth)
    #expect(shifted.qErrorUniform.isApproximatelyEqual(to: 0.1, relativeTolerance: 1e-12))
    #expect(shifted.qErrorMu.isApproximatelyEqual(to: 0.1, relativeTolerance: 1e-12))
    #expect(abs(shifted.suboptimality) < 1e-14)
    // Staying in state 0 forever: V^pi = (0, 2); gap 0.5 * 1 under rho0 = (1/2, 1/2), max 1.
    // Errors: only Q(0, 1) is wrong (0 instead of 1): uniform sqrt(1/4), under mu sqrt(0.2).
    let stay = try MethodMetrics.compute(
      method: "frozen", tables: [[0.5, 0, 2, 0.5]], task: task, truth: truth)
    #expect(stay.suboptimality.isApproximatelyEqual(to: 0.5, relativeTolerance: 1e-12))
    #expect(stay.suboptimalityMax.isApproximatelyEqual(to: 1, relativeTolerance: 1e-12))
    #expect(stay.qErrorUniform.isApproximatelyEqual(to: 0.5, relativeTolerance: 1e-12))
    #expect(stay.qErrorMu.isApproximatelyEqual(to: 0.2.squareRoot(), relativeTolerance: 1e-12))
    let rms = (([0.5, 1, 2, 0.5] as [Double]).reduce(0) { $0 + $1 * $1 } / 4).squareRoot()
    #expect(stay.relativeQError.isApproximatelyEqual(to: 0.5 / rms, relativeTolerance: 1e-12))
  }

  @Test("Finite horizon: per-step errors and backward policy evaluation")
  func finiteHorizonKnownAnswer() throws {
    let truth = Self.twoStateTruth(horizon: 2)
    let task = try #require(truth.tasks["t"])
    let tables = [Array(task.qStar[0..<4]), Array(task.qStar[4..<8])]
    let exact = try MethodMetrics.compute(
      method: "oracle", tables: tables, task: task, truth: truth)
    #expect(exact.qErrorUniformPerStep == [0, 0] && abs(exact.suboptimality) < 1e-14)
    // Step 0 stays in state 0 (Q_0(0, 1) = -1): V^pi_0(0) = 0 + V_1(0) = 0, gap 0.5 * 1.
    var wrong = tables
    wrong[0][1] = -1
    let metrics = try MethodMetrics.compute(
      method: "frozen", tables: wrong, task: task, truth: truth)
    #expect(metrics.suboptimality.isApproximatelyEqual(to: 0.5, relativeTolerance: 1e-12))
    let perStep = try #require(metrics.qErrorUniformPerStep)
    #expect(perStep[0].isApproximatelyEqual(to: 1, relativeTolerance: 1e-12) && perStep[1] == 0)
    // Overall: RMS over the steps.
    #expect(
      metrics.qErrorUniform.isApproximatelyEqual(to: 0.5.squareRoot(), relativeTolerance: 1e-12))
    let mu = try #require(metrics.qErrorMuPerStep)
    #expect(mu[0].isApproximatelyEqual(to: (0.2 * 4).squareRoot(), relativeTolerance: 1e-12))
  }

  @Test(
    "On a synthetic truth file: Q* scores zero, B* has sin(theta) 0 and approximates held-out Q* exactly"
  )
  func syntheticTruth() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-evaluation")
    var parameters = TrainFixtures.parameters(
      tasks: 3, samples: 20, states: 15, actions: 3, rank: 2, dim: 6, newTasks: 2)
    parameters.newSamples = 5
    _ = try SyntheticGenerator.generate(parameters, into: directory.path)
    let truth = try EvaluationTruth.read(directory.file("truth.h5"))
    #expect(truth.trainingTasks.count == 3 && truth.heldOutTasks == ["new00", "new01"])
    for name in truth.trainingTasks + truth.heldOutTasks {
      let task = try #require(truth.tasks[name])
      let metrics = try MethodMetrics.compute(
        method: "oracle", tables: [task.qStar], task: task, truth: truth)
      #expect(metrics.qErrorUniform == 0)
      #expect(abs(metrics.suboptimality) < 1e-9 && metrics.suboptimalityMax < 1e-9)
    }
    let map = FeatureMap(
      spec: FeatureMapSpec(kind: .table, table: "x"), observationSpace: .discrete(n: 15, start: 0),
      actionSpace: .discrete(n: 3, start: 0), dimension: 6,
      structure: .pairs(states: 15, actions: 3),
      table: truth.x)
    let exact = try RepresentationMetrics.compute(
      featureMap: map, bases: [truth.bStar], basisOfStep: [0], tasks: truth.heldOutTasks,
      truth: truth)
    #expect(exact.sinTheta[0] < 1e-12 && (exact.sinThetaParameters?[0] ?? 1) < 1e-12)
    #expect(exact.heldOutApproximation.count == 2)
    #expect(exact.heldOutApproximation.allSatisfy { $0.relativeError < 1e-10 })
    // An unrelated direction: sin(theta) 1 (a coordinate of z, orthogonal to phi*'s span in x).
    let u = try HDF5File.open(directory.file("truth.h5")).dataset("/model/U").read(as: Double.self)
    let distractor = Matrix(rows: 6, columns: 6, rowMajor: u).columns(2..<4)
    let wrong = try RepresentationMetrics.compute(
      featureMap: map, bases: [distractor], basisOfStep: [0], tasks: truth.heldOutTasks,
      truth: truth)
    #expect(wrong.sinThetaParameters?[0] ?? 0 > 0.999)
    #expect(wrong.heldOutApproximation.allSatisfy { $0.relativeError > 0.1 })
  }
}
