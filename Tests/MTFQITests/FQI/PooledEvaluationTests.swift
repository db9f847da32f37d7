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

  @Test(
    "The range excess of an estimate: 0 when Q^pi stays in the range; (max Q^pi - high) / width when it leaves it, on pairs and on action blocks"
  )
  func rangeExcessKnownAnswers() throws {
    let gamma = 0.9
    let every = (0..<6).flatMap { s in [(s, 0), (s, 1)] }
    let task = Self.chain("goal", pairs: every, goal: 5)
    let built = try RegressionData.build(
      [(task, nil), (Self.chain("start", pairs: [(0, 1)], goal: 5), nil)],
      featureMap: try Self.oneHot(), discount: gamma)
    let right = (0..<12).map { $0 % 2 == 1 ? 1.0 : 0.0 }
    let inRange = LSTDQEvaluation(
      data: built[0], starts: built[1], ridge: 1e-9, range: 0...(1 / (1 - gamma)))
    let estimate = try inRange.value(of: right)
    #expect(try inRange.rangeExcess(estimate.theta) < 1e-6)
    // 'Always right' from (5, right) earns 1 forever: Q = 1 / (1 - gamma) = 10, 9 above a
    // range [0, 1] of width 1.
    let narrow = LSTDQEvaluation(data: built[0], starts: built[1], ridge: 1e-9, range: 0...1)
    let excess = try narrow.rangeExcess(try narrow.value(of: right).theta)
    #expect(excess.isApproximatelyEqual(to: 9, relativeTolerance: 1e-6), "\(excess)")
    // The start (0, right) is worth gamma^4 / (1 - gamma) = 6.56: inside [0, 10], far above
    // [0, 1], where the clip decides the estimate (1): every start is saturated.
    let wide = try inRange.estimate(of: right)
    #expect(wide.saturated == 0 && wide.value.isApproximatelyEqual(to: pow(gamma, 4) / (1 - gamma), relativeTolerance: 1e-6))
    let clipped = try narrow.estimate(of: right)
    #expect(clipped.saturated == 1 && clipped.value == 1)
    // mtfqi-fit's per-row values report the same excess (their evaluator's data).
    let perRow = try PolicyComparison.stateValues(narrow, theta: right, points: built[1])
    #expect(perRow.excess.isApproximatelyEqual(to: 9, relativeTolerance: 1e-6) && perRow.values == [1])
    // Below the range counts too: the same values against [20, 22] (width 2); the smallest
    // Q^pi of a logged pair, (0, left) -> 0 -> ..., reaches the goal in 5 steps: gamma^5 / (1 - gamma).
    let above = LSTDQEvaluation(data: built[0], starts: built[1], ridge: 1e-9, range: 20...22)
    let below = try above.rangeExcess(try above.value(of: right).theta)
    let smallest = pow(gamma, 5) / (1 - gamma)
    #expect(below.isApproximatelyEqual(to: (20 - smallest) / 2, relativeTolerance: 1e-6), "\(below)")

    // Action blocks: the excess equals the one computed row by row from the blocks.
    var generator = Xoshiro256StarStar(seed: 7)
    let n = 300
    var observations: [Double] = []
    var actions: [Int64] = []
    for _ in 0..<n {
      observations += [generator.nextNormal(), generator.nextNormal()]
      actions.append(Int64(generator.next() % 3))
    }
    let space = Space.box(shape: [2], dtype: .float64, low: nil, high: nil)
    let dense = TaskTransitions(
      name: "t", observationSpace: space, actionSpace: .discrete(n: 3, start: 0),
      observations: observations, nextObservations: observations.reversed(), actions: actions,
      rewards: (0..<n).map { _ in generator.nextNormal() }, terminations: Array(repeating: 0, count: n),
      steps: Array(repeating: 0, count: n), episodes: Array(0..<Int64(n)))
    let map = try FeatureMap.build(
      spec: FeatureMapSpec(kind: .fourier, fourierFeatures: 8, bandwidth: 1),
      observationSpace: space, actionSpace: .discrete(n: 3, start: 0),
      trainingObservations: [observations], seed: 3)
    let data = try RegressionData.build([(dense, nil)], featureMap: map, discount: gamma)[0]
    guard case .blocks(let phi, _, _, let m) = data.layout else {
      Issue.record("a Fourier map has action blocks")
      return
    }
    let solution = (0..<(3 * m)).map { _ in 4 * generator.nextNormal() }
    var worst = 0.0
    for (a, block) in phi.enumerated() {
      for i in 0..<block.rows {
        var q = 0.0
        for j in 0..<m { q += block.storage[i + j * block.rows] * solution[a * m + j] }
        worst = max(worst, q - 1, -1 - q)
      }
    }
    #expect(worst > 0)
    let blocks = LSTDQEvaluation(data: data, starts: data, ridge: 1e-6, range: -1...1)
    let measured = try blocks.rangeExcess(solution)
    #expect(measured.isApproximatelyEqual(to: worst / 2, relativeTolerance: 1e-12), "\(measured) vs \(worst / 2)")
  }

  /// One state feature, one action: state 0 (psi = 1) moves to state 1 (psi = `scale`) with
  /// the task's reward, 40 one-row episodes. With gamma `scale` > 1 LSTD-Q's fixed point of
  /// every policy (there is only one) is Q = r / (1 - gamma scale) < 0, far below the range
  /// [0, r / (1 - gamma)]: every candidate's estimate is unreliable.
  static func extrapolating(_ name: String, reward: Double, scale: Double) -> (TaskTransitions, FeatureMap) {
    let n = 40
    let task = TaskTransitions(
      name: name, observationSpace: .discrete(n: 2, start: 0),
      actionSpace: .discrete(n: 1, start: 0), observations: Array(repeating: 0, count: n),
      nextObservations: Array(repeating: 1, count: n), actions: Array(repeating: 0, count: n),
      rewards: Array(repeating: reward, count: n), terminations: Array(repeating: 0, count: n),
      steps: Array(repeating: 0, count: n), episodes: Array(0..<Int64(n)))
    let map = FeatureMap(
      spec: FeatureMapSpec(kind: .table, table: "(extrapolating)", normalize: false),
      observationSpace: task.observationSpace, actionSpace: task.actionSpace, dimension: 1,
      structure: .pairs(states: 2, actions: 1), table: [1, scale])
    return (task, map)
  }

  @Test(
    "When no candidate's estimate is reliable the selection falls back to rank min(T, D), the strongest ridge, on theta, marks the row and says so; a fixed form is kept"
  )
  func unreliableFallback() throws {
    let (first, map) = Self.extrapolating("a", reward: 1, scale: 1.12)
    let (second, _) = Self.extrapolating("b", reward: 0.5, scale: 1.12)
    var config = TrainConfig()
    config.gamma = 0.9
    config.iterations = 20
    let result = try ModelSelection.select([first, second], featureMap: map, config: config, progress: nil)
    let multitask = result.table.filter { $0.method == "multitask" && !$0.fallback }
    #expect(!multitask.isEmpty && multitask.allSatisfy { !$0.isReliable && $0.valueRangeExcess > 5 })
    let chosen = try #require(result.table.first { $0.chosen && $0.method == "multitask" })
    #expect(chosen.fallback && chosen.ridgeForm == "theta" && chosen.rank == 1)
    let strongest = try #require(result.table.map(\.ridge).max())
    #expect(chosen.ridge == strongest && result.ridge == strongest && result.ridgeForm == .theta)
    #expect(result.table.filter(\.fallback).count == 1 + (result.singleTaskRidge == strongest ? 0 : 1))
    // The single-task baseline falls back to the strongest ridge too.
    #expect(result.singleTaskRidge == strongest)
    let warning = try #require(ModelSelection.unreliableWarning(result.table))
    #expect(warning.contains("not ranked by them") && warning.contains("rank 1"), "\(warning)")

    // The user's form stays: --ridge-form factors falls back on the factors.
    config.ridgeFormAuto = false
    config.ridgeForm = .factors
    let fixed = try ModelSelection.select([first, second], featureMap: map, config: config, progress: nil)
    let fixedChosen = try #require(fixed.table.first { $0.chosen && $0.method == "multitask" })
    #expect(fixedChosen.fallback && fixedChosen.ridgeForm == "factors" && fixedChosen.ridge == strongest)
  }

  @Test("The report's summary says when the chosen model is the fallback, and what the excess was otherwise")
  func reportCard() {
    let header = ["rank", "value_range_excess", "fallback", "chosen"]
    let fallback = OptionalFields.Table(
      title: "selection", header: header, rows: [["1", "3.2", "0", "0"], ["4", "4.6", "1", "1"], ["0", "4.6", "0", "1"]])
    #expect(ReportSummary.unreliableSelection(fallback)?.contains("fell back to rank 4") == true)
    let chosenUnreliable = OptionalFields.Table(
      title: "selection", header: header, rows: [["2", "3.2", "0", "1"]])
    #expect(ReportSummary.unreliableSelection(chosenUnreliable)?.contains("chose rank 2") == true)
    let reliable = OptionalFields.Table(title: "selection", header: header, rows: [["2", "0.1", "0", "1"]])
    #expect(ReportSummary.unreliableSelection(reliable) == nil)
  }

  @Test("The logged return: sum_j gamma^j r_j from each episode's first logged step, averaged over episodes then tasks (rows in any order; tasks without episode ids skipped)")
  func loggedReturn() {
    func task(_ name: String, steps: [Int64], rewards: [Double], episodes: [Int64]) -> TaskTransitions {
      let n = steps.count
      return TaskTransitions(
        name: name, observationSpace: .discrete(n: 2, start: 0),
        actionSpace: .discrete(n: 1, start: 0), observations: Array(repeating: 0, count: n),
        nextObservations: Array(repeating: 1, count: n), actions: Array(repeating: 0, count: n),
        rewards: rewards, terminations: Array(repeating: 0, count: n), steps: steps,
        episodes: episodes)
    }
    // Episode 0: 1 + 0.5 + 0.25 = 1.75; episode 1 starts at step 5: 0 + 0.5 x 2 = 1.
    let a = task("a", steps: [1, 5, 0, 6, 2], rewards: [1, 0, 1, 2, 1], episodes: [0, 1, 0, 1, 0])
    let noIDs = task("b", steps: [0, 1], rewards: [9, 9], episodes: [])
    let c = task("c", steps: [3], rewards: [4], episodes: [7])
    let value = ModelSelection.loggedReturn([a, noIDs, c], gamma: 0.5)
    #expect(value.isApproximatelyEqual(to: (1.375 + 4) / 2, relativeTolerance: 1e-12), "\(value)")
    #expect(ModelSelection.loggedReturn([noIDs], gamma: 0.5).isNaN)
  }

  @Test("A candidate is reliable when its excess and its share of clipped starts are both at most 0.5")
  func reliability() {
    var candidate = SelectionCandidate(
      method: "multitask", rank: 1, ridge: 1, relativeRidge: 1, headRidge: 1, iterations: 10,
      score: 2, heldOutBellmanError: 0, chosen: false)
    #expect(!candidate.isReliable)  // never evaluated: no excess
    candidate.valueRangeExcess = 0.1
    #expect(candidate.isReliable)  // starts not known (old models): the excess decides
    candidate.saturatedStarts = 0.5
    #expect(candidate.isReliable)
    candidate.saturatedStarts = 0.6
    #expect(!candidate.isReliable)
    candidate.saturatedStarts = 0
    candidate.valueRangeExcess = 0.6
    #expect(!candidate.isReliable)
    candidate.valueRangeExcess = 0
    candidate.score = -.infinity
    #expect(!candidate.isReliable)
  }

  @Test("Successive halving keeps reliable candidates before unreliable ones with higher scores")
  func halvingPrefersReliable() throws {
    // Four settings: the two highest scores are unreliable.
    let scores = [5.0, 4.0, 3.0, 2.0]
    let excess = [3.0, 0.1, 2.0, 0.0]
    let arm = ModelSelection.HalvingArm(count: 4, keep: 2) { index, rounds, _ throws(FQIError) in
      var candidate = SelectionCandidate(
        method: "multitask", rank: index + 1, ridge: 1, relativeRidge: 1, headRidge: 1,
        iterations: rounds, score: scores[index], heldOutBellmanError: 0, chosen: false)
      candidate.valueRangeExcess = excess[index]
      return (candidate, [[Double(index)]])
    }
    var table: [SelectionCandidate] = []
    var thetas: [[[Double]]] = []
    let bests = try ModelSelection.halving([arm], iterations: 20, table: &table, thetas: &thetas)
    let full = table.filter { $0.iterations == 20 }
    #expect(full.map(\.rank) == [2, 4])
    #expect(bests == [table.firstIndex { $0.iterations == 20 && $0.rank == 2 }])
  }

  @Test("Model selection warns when the chosen multitask candidate's estimate leaves the value range by more than half its width, and only then")
  func unreliableSelectionWarning() {
    func table(_ excess: Double) -> [SelectionCandidate] {
      var chosen = SelectionCandidate(
        method: "multitask", rank: 2, ridge: 1e-4, relativeRidge: 0.1, headRidge: 1e-4, iterations: 100,
        score: 3, heldOutBellmanError: 0.5, chosen: true)
      chosen.valueRangeExcess = excess
      var other = chosen
      other.chosen = false
      other.valueRangeExcess = 100
      return [other, chosen]
    }
    #expect(ModelSelection.unreliableWarning(table(0.16)) == nil)
    #expect(ModelSelection.unreliableWarning(table(.nan)) == nil)
    let warning = ModelSelection.unreliableWarning(table(3.5))
    #expect(warning?.contains("rank 2") == true && warning?.contains("3.5 times its width") == true, "\(warning ?? "nil")")
  }
}
