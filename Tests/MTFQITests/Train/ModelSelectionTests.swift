import Foundation
import Numerics
import Testing

@testable import MTFQI

/// Model selection by estimated policy value against exact values, and the frozen-vs-scratch
/// recommendation on an in-span and an out-of-span task.
@Suite("Train: model selection by estimated policy value; frozen vs scratch")
struct ModelSelectionTests {
  /// Exact J(pi) = sum_s rho0(s) V^pi(s) of the greedy policy of a Q table, by a linear solve.
  static func exactValue(
    _ table: [Double], rewards: [Double], transition: [Double], start: [Double], states: Int,
    actions: Int, gamma: Double
  ) throws -> Double {
    var system = Matrix(rows: states, columns: states)
    var rhs = Matrix(rows: states, columns: 1)
    for s in 0..<states {
      let a = MTFQI.PolicyEvaluation.greedy(table, state: s, actions: actions)
      rhs.storage[s] = rewards[s * actions + a]
      for next in 0..<states {
        system.storage[s + next * states] = -gamma * transition[(s * actions + a) * states + next]
      }
      system.storage[s + s * states] += 1
    }
    let v = try LinearAlgebra.solve(system, rhs).storage
    return zip(start, v).reduce(0) { $0 + $1.0 * $1.1 }
  }

  @Test(
    "On synthetic families with exact V^pi the selected candidate is within 5% of the best candidate in at least 80% of seeds, and at least as good as choosing by held-out Bellman error"
  )
  func selectionAgainstExactValues() throws {
    var withinFivePercent = 0
    var selectedTotal = 0.0
    var bellmanTotal = 0.0
    let seeds: [UInt64] = [1, 2, 3, 4, 5]
    for seed in seeds {
      let family = try LowRankMDPFamily(
        parameters: TrainFixtures.parameters(
          tasks: 6, samples: 150, states: 15, actions: 3, rank: 2, dim: 8, seed: seed))
      let tasks = TrainFixtures.transitions(family)
      let map = TrainFixtures.tableMap(family)
      var config = TrainConfig()
      config.iterations = 40
      config.gamma = 0.9
      config.singleTask = false
      config.seed = seed
      let result = try ModelSelection.select(tasks, featureMap: map, config: config, progress: nil)
      // Exact value of every fully fitted multitask candidate.
      var values: [(index: Int, value: Double)] = []
      for (index, candidate) in result.table.enumerated()
      where candidate.method == "multitask" && candidate.iterations == 40
        && !result.candidateThetas[index].isEmpty
      {
        var total = 0.0
        for (t, task) in family.trainingTasks.enumerated() {
          let table = try #require(try map.qTable(result.candidateThetas[index][t]))
          total += try Self.exactValue(
            table, rewards: task.rewards, transition: family.transition,
            start: family.startDistribution, states: family.states, actions: family.actions,
            gamma: 0.9)
        }
        values.append((index, total / Double(family.trainingTasks.count)))
      }
      let best = try #require(values.map(\.value).max())
      let chosen = try #require(values.first { result.table[$0.index].chosen })
      let byBellman = try #require(
        values.min {
          result.table[$0.index].heldOutBellmanError < result.table[$1.index].heldOutBellmanError
        })
      if best - chosen.value <= 0.05 * abs(best) { withinFivePercent += 1 }
      selectedTotal += chosen.value
      bellmanTotal += byBellman.value
    }
    #expect(Double(withinFivePercent) >= 0.8 * Double(seeds.count), "\(withinFivePercent) seeds")
    #expect(selectedTotal >= bellmanTotal - 1e-9, "selected \(selectedTotal), by Bellman error \(bellmanTotal)")
  }

  /// A 6-state chain, actions left/right (deterministic), one-hot features.
  static func chain(name: String, rewardState: Int, rows: Int, seed: UInt64) -> TaskTransitions {
    var generator = Xoshiro256StarStar(seed: seed, stream: "tests/chain")
    var observations: [Double] = []
    var next: [Double] = []
    var actions: [Int64] = []
    var rewards: [Double] = []
    for _ in 0..<rows {
      let s = Int(generator.next() % 6)
      let a = Int(generator.next() % 2)
      let n = a == 0 ? max(s - 1, 0) : min(s + 1, 5)
      observations.append(Double(s))
      next.append(Double(n))
      actions.append(Int64(a))
      rewards.append(n == rewardState ? 1 : 0)
    }
    return TaskTransitions(
      name: name, observationSpace: .discrete(n: 6, start: 0),
      actionSpace: .discrete(n: 2, start: 0), observations: observations,
      nextObservations: next, actions: actions, rewards: rewards,
      terminations: Array(repeating: 0, count: rows), steps: Array(repeating: 0, count: rows))
  }

  @Test(
    "Frozen vs scratch: a data-poor task inside the span is recommended frozen; a task whose reward lies outside the span is recommended scratch"
  )
  func recommendation() throws {
    let map = try FeatureMap.build(
      spec: FeatureMapSpec(kind: .oneHot), observationSpace: .discrete(n: 6, start: 0),
      actionSpace: .discrete(n: 2, start: 0), trainingObservations: [], seed: 0)
    // The frozen span: Q* of "reach the right end" (exact, by FQI on plenty of data).
    let source = Self.chain(name: "right", rewardState: 5, rows: 3000, seed: 1)
    let parameters = FQIParameters(
      objective: .discounted(gamma: 0.9, iterations: 200), rank: 1, ridge: 1e-8)
    let problems = [try RegressionData.build([(source, nil)], featureMap: map, discount: 0.9)]
    let fit = try FittedQIteration(parameters: parameters, taskNames: ["right"]).singleTask(
      problems)
    let b = Matrix(rows: 12, columns: 1, columnMajor: fit.thetas[0].column(0))
    let representation = ExportedRepresentation(
      featureMap: map, bases: [b], defaultStep: 0, parameters: parameters, stepData: .pooled,
      modelPath: "(memory)", modelSHA256: "", modelStorePath: "(memory)", modelStoreSHA256: "",
      taskNames: ["right"], configJSON: "{}", seed: 0)
    let settings = HeadFitter.Settings(
      parameters: parameters, stepData: .pooled, basisPerStep: [0], defaultBasis: 0)
    // Inside the span (the same goal), 40 rows: frozen.
    let inside = try HeadFitter.compare(
      Self.chain(name: "in", rewardState: 5, rows: 40, seed: 2), rows: Array(0..<40),
      representation: representation, bases: [b], settings: settings, headRidge: nil,
      scratchRidge: nil, seed: 0)
    #expect(inside.recommended == "frozen", "\(inside)")
    #expect(inside.basis == "no_significant_difference", "\(inside.basis)")
    #expect(inside.evidence == "inconclusive" && inside.evidenceWarning != nil)
    // Outside the span (a goal in the middle, state 2), 600 rows: scratch.
    let outside = try HeadFitter.compare(
      Self.chain(name: "out", rewardState: 2, rows: 600, seed: 3), rows: Array(0..<600),
      representation: representation, bases: [b], settings: settings, headRidge: nil,
      scratchRidge: nil, seed: 0)
    #expect(outside.recommended == "scratch", "\(outside)")
    #expect(outside.scratchValue > outside.frozenValue)
    // The value estimates settle it (600 rows), and the chance span test (no reward models in
    // this representation) agrees: the call keeps the estimates' basis.
    #expect(outside.basis == "value_estimates", "\(outside.basis)")
    #expect(outside.evidence == "significant" && outside.informativeEpisodes > 0)
    #expect(outside.rewardSpanTest == "chance" && outside.rewardSpanPValue > 0.05, "\(outside)")
    // With the training task's reward model: the test against it places the in-span task
    // inside and the other outside.
    var withBasis = representation
    withBasis.rewardBasis = try RewardBasis.fit([source], problems: [], featureMap: map)
    for (task, rows, isOutside) in [
      (Self.chain(name: "in", rewardState: 5, rows: 40, seed: 2), 40, false),
      (Self.chain(name: "out", rewardState: 2, rows: 600, seed: 3), 600, true),
    ] {
      let call = try HeadFitter.compare(
        task, rows: Array(0..<rows), representation: withBasis, bases: [b], settings: settings,
        headRidge: nil, scratchRidge: nil, seed: 0)
      #expect(call.rewardSpanTest == "training_rewards", "\(call)")
      #expect((call.rewardResidualMax > call.rewardResidualThreshold) == isOutside, "\(call)")
      #expect(call.recommended == (isOutside ? "scratch" : "frozen"), "\(call)")
    }
    // The frozen span holds less of the out-of-span task's value function.
    let outTask = Self.chain(name: "out", rewardState: 2, rows: 600, seed: 3)
    let outProblems = [try RegressionData.build([(outTask, nil)], featureMap: map, discount: 0.9)]
    let scratch = try FittedQIteration(parameters: parameters, taskNames: ["out"]).singleTask(
      outProblems)
    let captured = try HeadFitter.spanCaptured(
      scratch.thetas[0].column(0), problem: outProblems[0][0], b: b)
    #expect(captured < 0.99, "span captured \(captured)")
  }
}
