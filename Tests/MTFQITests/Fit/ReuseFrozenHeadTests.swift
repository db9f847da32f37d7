import Foundation
import Numerics
import Testing

@testable import MTFQI

/// In-process: materialised features and the frozen-head FQI against direct computations.
@Suite("Reuse: materialised features and frozen-head FQI")
struct ReuseFrozenHeadTests {
  /// A family and its training logs, in memory.
  static func family(seed: UInt64 = 3) throws -> (LowRankMDPFamily, [TaskTransitions]) {
    let family = try LowRankMDPFamily(
      parameters: TrainFixtures.parameters(
        tasks: 4, samples: 300, states: 12, actions: 3, rank: 2, dim: 6, seed: seed))
    return (family, TrainFixtures.transitions(family))
  }

  static func randomBasis(rows: Int, columns: Int, seed: UInt64) -> Matrix {
    var generator = Xoshiro256StarStar(seed: seed, stream: "tests/basis")
    var b = Matrix(rows: rows, columns: columns)
    for i in b.storage.indices { b.storage[i] = generator.nextNormal() }
    return b
  }

  @Test("Materialised features equal B^T psi(s, a) row by row (table and Fourier maps)")
  func materialisedFeatures() throws {
    let (family, tasks) = try Self.family()
    let task = tasks[0]
    let table = TrainFixtures.tableMap(family)
    let fourier = try FeatureMap.build(
      spec: FeatureMapSpec(kind: .fourier, fourierFeatures: 5, bandwidth: 3),
      observationSpace: task.observationSpace, actionSpace: task.actionSpace,
      trainingObservations: tasks.map(\.observations), seed: 9)
    for map in [table, fourier] {
      let b = Self.randomBasis(rows: map.dimension, columns: 2, seed: 1)
      let features = try MaterializedFeatures.compute(task, map: map, b: b)
      #expect(features.rows == task.count && features.actions == 3 && features.rank == 2)
      for i in stride(from: 0, to: task.count, by: 7) {
        let psi = try #require(
          map.features(observation: [task.observations[i]], action: task.actions[i]))
        let expected = try LinearAlgebra.gemv(b, .transpose, psi)
        for j in 0..<2 {
          #expect(
            features.phi[i * 2 + j].isApproximatelyEqual(to: expected[j], absoluteTolerance: 1e-12))
        }
        for a in 0..<3 {
          let next = try #require(
            map.features(observation: [task.nextObservations[i]], action: Int64(a)))
          let value = try LinearAlgebra.gemv(b, .transpose, next)
          for j in 0..<2 {
            #expect(
              features.phiNext[(i * 3 + a) * 2 + j].isApproximatelyEqual(
                to: value[j], absoluteTolerance: 1e-12))
          }
        }
      }
    }
  }

  @Test(
    "Frozen-head FQI equals a direct k-dimensional ridge FQI, and frozen on B* equals the oracle on phi*"
  )
  func frozenHeadKnownAnswer() throws {
    let (family, tasks) = try Self.family()
    let task = tasks[1]
    let map = TrainFixtures.tableMap(family)
    let b = TrainFixtures.bStar(family)
    let features = try MaterializedFeatures.compute(task, map: map, b: b)
    let runner = FrozenHeadFQI(
      objective: .discounted(gamma: 0.9, iterations: 200), headRidge: 1e-4, divergenceFactor: 10,
      stepData: .pooled, task: task.name)
    let fit = try runner.fit(try runner.problems(task, rows: nil, featureMap: map), bases: [b])
    // Direct: normal equations written out for k = 2.
    let n = Double(task.count)
    var w = [0.0, 0.0]
    var g = [0.0, 0.0, 0.0]
    for i in 0..<task.count {
      let (x0, x1) = (features.phi[2 * i], features.phi[2 * i + 1])
      g[0] += x0 * x0 / n
      g[1] += x0 * x1 / n
      g[2] += x1 * x1 / n
    }
    let (a, c, d) = (g[0] + 1e-4, g[1], g[2] + 1e-4)
    for iteration in 0..<200 {
      var rhs = [0.0, 0.0]
      for i in 0..<task.count {
        var y = task.rewards[i]
        if iteration > 0 && task.terminations[i] == 0 {
          var best = -Double.infinity
          for action in 0..<3 {
            let offset = (i * 3 + action) * 2
            best = max(best, features.phiNext[offset] * w[0] + features.phiNext[offset + 1] * w[1])
          }
          y += 0.9 * best
        }
        rhs[0] += features.phi[2 * i] * y / n
        rhs[1] += features.phi[2 * i + 1] * y / n
      }
      let determinant = a * d - c * c
      w = [(d * rhs[0] - c * rhs[1]) / determinant, (a * rhs[1] - c * rhs[0]) / determinant]
    }
    #expect(fit.log.count == 200)
    for j in 0..<2 {
      #expect(fit.heads[0][j].isApproximatelyEqual(to: w[j], relativeTolerance: 1e-9))
    }
    // Psi B* = phi*: the oracle's features (up to rounding), so the heads agree.
    let oracleMap = FeatureMap(
      spec: FeatureMapSpec(kind: .table, table: "(phi*)"), observationSpace: task.observationSpace,
      actionSpace: task.actionSpace, dimension: 2, structure: .pairs(states: 12, actions: 3),
      table: family.phi)
    let oracle = try runner.fit(
      try runner.problems(task, rows: nil, featureMap: oracleMap), bases: [Matrix.identity(2)])
    for j in 0..<2 {
      #expect(fit.heads[0][j].isApproximatelyEqual(to: oracle.heads[0][j], relativeTolerance: 1e-8))
    }
    // And its Q is close to Q* (300 rows, noise 0.1; 0.9^200 of the start left).
    let q = try LinearAlgebra.gemv(Matrix(rows: 36, columns: 2, rowMajor: family.phi), fit.heads[0])
    let error = (Trainer.squaredDistance(q, family.trainingTasks[1].qStar) / 36).squareRoot()
    #expect(error < 0.1, "Q error \(error)")
  }

  @Test(
    "Finite horizon: backward steps, per-step data select their rows; a step without rows is refused"
  )
  func finiteHorizon() throws {
    let (family, tasks) = try Self.family()
    var task = tasks[0]
    task.steps = (0..<task.count).map { Int64($0 % 3) }
    let features = try MaterializedFeatures.compute(
      task, map: TrainFixtures.tableMap(family), b: TrainFixtures.bStar(family))
    let map = TrainFixtures.tableMap(family)
    let b = TrainFixtures.bStar(family)
    var runner = FrozenHeadFQI(
      objective: .finiteHorizon(horizon: 3, gamma: 1), headRidge: 1e-6, divergenceFactor: 10,
      stepData: .perStep, task: task.name)
    let fit = try runner.fit(try runner.problems(task, rows: nil, featureMap: map), bases: [b])
    #expect(fit.heads.count == 3)
    #expect(fit.log.map(\.step) == [2, 1, 0])
    // The last step regresses on rewards only: w_2 = ridge fit of r on the step-2 rows.
    let rows = (0..<task.count).filter { $0 % 3 == 2 }
    let direct = Self.ridgeFit(features, rows, rows.map { task.rewards[$0] }, ridge: 1e-6)
    for j in 0..<2 {
      #expect(fit.heads[2][j].isApproximatelyEqual(to: direct[j], relativeTolerance: 1e-9))
    }
    // Q grows backward (rewards are positive): |w_0| > |w_2|.
    #expect(fit.heads[0].reduce(0) { $0 + abs($1) } > fit.heads[2].reduce(0) { $0 + abs($1) })
    runner = FrozenHeadFQI(
      objective: .finiteHorizon(horizon: 4, gamma: 1), headRidge: 1e-6, divergenceFactor: 10,
      stepData: .perStep, task: task.name)
    expectError(FQIError.self, case: "guardrail") {
      try runner.fit(try runner.problems(task, rows: nil, featureMap: map), bases: [b])
    }
  }

  @Test(
    "Guardrails: fewer rows than k with head ridge 0 is refused; fewer than 2k with a ridge fits; the Baird task stays bounded by clipping"
  )
  func guardrails() throws {
    let (family, tasks) = try Self.family()
    let map = TrainFixtures.tableMap(family)
    let runner = FrozenHeadFQI(
      objective: .discounted(gamma: 0.9, iterations: 5), headRidge: 0, divergenceFactor: 10,
      stepData: .pooled, task: "t")
    do {
      _ = try runner.fit(
        try runner.problems(tasks[0], rows: [0], featureMap: map),
        bases: [TrainFixtures.bStar(family)])
      Issue.record("expected the guardrail")
    } catch {
      #expect(error.description.contains("has 1 transitions for k = 2 frozen features"))
      #expect(error.description.contains("--head-ridge"))
    }
    let ridged = FrozenHeadFQI(
      objective: .discounted(gamma: 0.9, iterations: 5), headRidge: 1e-6, divergenceFactor: 10,
      stepData: .pooled, task: "t")
    let few = try ridged.fit(
      try ridged.problems(tasks[0], rows: [0, 1, 2], featureMap: map),
      bases: [TrainFixtures.bStar(family)])
    #expect(few.heads[0].allSatisfy { $0.isFinite })
    // Baird-style: every row goes from psi = 1 to psi = 2 (one action), reward 1. Clipped at
    // max r / (1 - gamma) = 10, the head reaches the fixed point w = 1 + 0.9 * 10.
    let (task, bairdMap) = Self.bairdTask()
    let unstable = FrozenHeadFQI(
      objective: .discounted(gamma: 0.9, iterations: 60), headRidge: 1e-6, divergenceFactor: 10,
      stepData: .pooled, task: "d")
    let fit = try unstable.fit(
      try unstable.problems(task, rows: nil, featureMap: bairdMap), bases: [Matrix.identity(1)])
    #expect(fit.heads[0][0].isApproximatelyEqual(to: 10, relativeTolerance: 1e-4))
    #expect(fit.log.last?.clippedShares == [1])
  }

  /// Ten rows from state 0 (psi = 1) to state 1 (psi = 2), one action, reward 1: each FQI step
  /// multiplies Q by about 2 gamma.
  static func bairdTask() -> (TaskTransitions, FeatureMap) {
    let rows = 10
    let task = TaskTransitions(
      name: "d", observationSpace: .discrete(n: 2, start: 0),
      actionSpace: .discrete(n: 1, start: 0), observations: Array(repeating: 0, count: rows),
      nextObservations: Array(repeating: 1, count: rows), actions: Array(repeating: 0, count: rows),
      rewards: Array(repeating: 1, count: rows), terminations: Array(repeating: 0, count: rows),
      steps: Array(repeating: 0, count: rows))
    let map = FeatureMap(
      spec: FeatureMapSpec(kind: .table, table: "(baird)", normalize: false),
      observationSpace: task.observationSpace, actionSpace: task.actionSpace, dimension: 1,
      structure: .pairs(states: 2, actions: 1), table: [1, 2])
    return (task, map)
  }

  /// (Phi^T Phi / n + ridge I)^-1 Phi^T y / n on `rows` of materialised features, for k = 2.
  static func ridgeFit(
    _ features: MaterializedFeatures, _ rows: [Int], _ targets: [Double], ridge: Double
  ) -> [Double] {
    let n = Double(rows.count)
    var g = [0.0, 0.0, 0.0]
    var c = [0.0, 0.0]
    for (index, row) in rows.enumerated() {
      let (x0, x1) = (features.phi[2 * row], features.phi[2 * row + 1])
      g[0] += x0 * x0 / n
      g[1] += x0 * x1 / n
      g[2] += x1 * x1 / n
      c[0] += x0 * targets[index] / n
      c[1] += x1 * targets[index] / n
    }
    let (a, b, d) = (g[0] + ridge, g[1], g[2] + ridge)
    let determinant = a * d - b * b
    return [(d * c[0] - b * c[1]) / determinant, (a * c[1] - b * c[0]) / determinant]
  }

  @Test("The hold-out split is seeded, disjoint and complete")
  func holdoutSplit() throws {
    let (training, heldOut) = try HeadFitter.split(100, fraction: 0.2, seed: 4, task: "t")
    #expect(heldOut.count == 20 && training.count == 80)
    #expect(Set(training).union(heldOut) == Set(0..<100))
    #expect(try HeadFitter.split(100, fraction: 0.2, seed: 4, task: "t").heldOut == heldOut)
    #expect(try HeadFitter.split(100, fraction: 0.2, seed: 5, task: "t").heldOut != heldOut)
    expectError(FQIError.self, case: "guardrail") { _ = try HeadFitter.split(1, fraction: 0.5, seed: 0, task: "t") }
  }
}
