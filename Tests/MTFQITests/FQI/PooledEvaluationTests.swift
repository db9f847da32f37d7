import Foundation
import Numerics
import Testing

@testable import MTFQI

/// LSTD-Q with dynamics pooled over tasks (what model selection scores candidates by), and the
/// divergence guard's reward scale shared by all tasks.
@Suite("FQI: pooled LSTD-Q evaluation and the shared divergence bound")
struct PooledEvaluationTests {
  /// A 6-state deterministic chain, actions left (0) and right (1), no termination: `pairs`
  /// lists the logged (state, action) rows; the reward is 1 when the next state is `goal`.
  static func chain(_ name: String, pairs: [(Int, Int)], goal: Int?) -> TaskTransitions {
    var observations: [Double] = []
    var next: [Double] = []
    var actions: [Int64] = []
    var rewards: [Double] = []
    for (s, a) in pairs {
      let n = a == 0 ? max(s - 1, 0) : min(s + 1, 5)
      observations.append(Double(s))
      next.append(Double(n))
      actions.append(Int64(a))
      rewards.append(n == goal ? 1 : 0)
    }
    return TaskTransitions(
      name: name, observationSpace: .discrete(n: 6, start: 0),
      actionSpace: .discrete(n: 2, start: 0), observations: observations,
      nextObservations: next, actions: actions, rewards: rewards,
      terminations: Array(repeating: 0, count: pairs.count),
      steps: Array(repeating: 0, count: pairs.count), episodes: Array(0..<Int64(pairs.count)))
  }

  static func oneHot() throws -> FeatureMap {
    try FeatureMap.build(
      spec: FeatureMapSpec(kind: .oneHot), observationSpace: .discrete(n: 6, start: 0),
      actionSpace: .discrete(n: 2, start: 0), trainingObservations: [], seed: 0)
  }

  @Test(
    "Pooled dynamics with the task's own reward model give the exact value of 'always right' from state 0, gamma^4 / (1 - gamma); the task's own rows alone give 0"
  )
  func pooledKnownAnswer() throws {
    let gamma = 0.9
    // The task logged only the two rewarded pairs; another task (reward elsewhere) logged
    // every pair once: together they hold the whole deterministic model.
    let sparse = Self.chain("sparse", pairs: [(4, 1), (5, 1)], goal: 5)
    let every = (0..<6).flatMap { s in [(s, 0), (s, 1)] }
    let other = Self.chain("other", pairs: every, goal: 0)
    let start = Self.chain("start", pairs: [(0, 1)], goal: 5)
    let pool = TaskTransitions.pooled(
      [(sparse, [0, 1]), (other, Array(0..<every.count))], name: "pooled")
    #expect(pool.count == 14 && pool.episodes.isEmpty)
    let built = try RegressionData.build(
      [(pool, nil), (sparse, nil), (start, nil)], featureMap: try Self.oneHot(), discount: gamma)
    let evaluator = try LSTDQEvaluation.pooled(
      dynamics: built[0], rewards: built[1], starts: built[2], range: 0...(1 / (1 - gamma)))
    // theta prefers right everywhere.
    let right = (0..<12).map { $0 % 2 == 1 ? 1.0 : 0.0 }
    let exact = pow(gamma, 4) / (1 - gamma)
    let pooled = try evaluator.value(of: right).value
    #expect(pooled.isApproximatelyEqual(to: exact, relativeTolerance: 0.02), "\(pooled) vs \(exact)")
    // 'Always left' never reaches the goal: value 0.
    let left = right.map { 1 - $0 }
    #expect(abs(try evaluator.value(of: left).value) < 1e-9)
    // The task's own two rows do not connect state 0 to the goal.
    let own = LSTDQEvaluation(
      data: built[1], starts: built[2], ridge: 1e-3 * built[1].gram.meanDiagonal,
      range: 0...(1 / (1 - gamma)))
    #expect(abs(try own.value(of: right).value) < 1e-9)
  }

  @Test(
    "The divergence bound uses max |r| over all tasks: a task whose logged rewards are all 0 may bootstrap the others' value scale without a restart, not 100 times it"
  )
  func zeroRewardTaskBound() throws {
    let gamma = 0.9
    let every = (0..<6).flatMap { s in [(s, 0), (s, 1)] }
    let paid = Self.chain("paid", pairs: every, goal: 5)
    let unpaid = Self.chain("unpaid", pairs: every, goal: nil)
    let problems = try RegressionData.build(
      [(paid, nil), (unpaid, nil)], featureMap: try Self.oneHot(), discount: gamma)
    #expect(problems[1].maxAbsReward == 0)
    let runner = FittedQIteration(
      parameters: FQIParameters(objective: .discounted(gamma: gamma, iterations: 1), rank: 1, ridge: 1e-6),
      taskNames: ["paid", "unpaid"])
    // Q of the unpaid task at the value scale of the paid one (1 / (1 - gamma) = 10), as a
    // shared representation gives it; clipped to its own range [0, 0] in the targets.
    let modest = [Double](repeating: 5, count: 12)
    let targets = try runner.targetStatistics(
      problems, [modest, modest], clips: [0...10, 0...0], iteration: 2, log: [])
    #expect(targets[1].maxAbsNextValue == 5 && targets[1].maxAbsBootstrapped == 0)
    #expect(targets[0].maxAbsBootstrapped == 5)
    // 10 x max|r| x 1/(1 - gamma) = 100 is still the bound.
    let wild = [Double](repeating: 150, count: 12)
    expectError(FQIError.self, case: "diverged") {
      _ = try runner.targetStatistics(
        problems, [modest, wild], clips: [0...10, 0...0], iteration: 2, log: [])
    }
  }

  @Test(
    "The LSTD-Q block system with the cross totals (largest next-action group by subtraction) equals the full sum for every policy shape"
  )
  func crossTotalsShortcut() throws {
    // Random 2-D transitions, 3 actions, a tenth of them terminal; 16 Fourier features.
    var generator = Xoshiro256StarStar(seed: 41)
    let n = 900
    var observations: [Double] = []
    var next: [Double] = []
    var actions: [Int64] = []
    var terminations: [UInt8] = []
    for _ in 0..<n {
      observations += [generator.nextNormal(), generator.nextNormal()]
      next += [generator.nextNormal(), generator.nextNormal()]
      actions.append(Int64(generator.next() % 3))
      terminations.append(generator.nextUniform() < 0.1 ? 1 : 0)
    }
    let space = Space.box(shape: [2], dtype: .float64, low: nil, high: nil)
    let task = TaskTransitions(
      name: "t", observationSpace: space, actionSpace: .discrete(n: 3, start: 0),
      observations: observations, nextObservations: next, actions: actions,
      rewards: (0..<n).map { _ in generator.nextNormal() }, terminations: terminations,
      steps: Array(repeating: 0, count: n), episodes: Array(0..<Int64(n)))
    let map = try FeatureMap.build(
      spec: FeatureMapSpec(kind: .fourier, fourierFeatures: 16, bandwidth: 1),
      observationSpace: space, actionSpace: .discrete(n: 3, start: 0),
      trainingObservations: [observations], seed: 3)
    let data = try RegressionData.build([(task, nil)], featureMap: map, discount: 0.9)[0]
    guard case .blocks(let phi, let ranges, let phiNext, let m) = data.layout else {
      Issue.record("a Fourier map has action blocks")
      return
    }
    let totals = try #require(try LSTDQEvaluation.crossTotals(data))
    #expect(totals.count == 3 && totals.allSatisfy { $0.rows == m && $0.columns == m })
    let policies: [(String, [Int])] = [
      ("random", (0..<n).map { _ in Int(generator.next() % 3) }),
      ("constant", Array(repeating: 2, count: n)),
      ("two actions", (0..<n).map { $0 % 2 }),
    ]
    for (name, policy) in policies {
      let full = try LSTDQEvaluation.blockSystem(
        data: data, phi: phi, ranges: ranges, phiNext: phiNext, m: m, policy: policy)
      let shortcut = try LSTDQEvaluation.blockSystem(
        data: data, phi: phi, ranges: ranges, phiNext: phiNext, m: m, policy: policy,
        totals: totals)
      let scale = full.storage.reduce(0) { max($0, $1.magnitude) }
      let worst = zip(full.storage, shortcut.storage).reduce(0) { max($0, ($1.0 - $1.1).magnitude) }
      #expect(scale > 0 && worst <= 1e-12 * scale, "\(name): largest difference \(worst) (scale \(scale))")
    }
  }
}
