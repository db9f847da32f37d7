import Foundation
import Numerics
import Testing

@testable import MTFQI

/// Pooled numbers are computed from all tasks' data: pooling tasks a and b must give exactly
/// what the same rows give as one task.
@Suite("Coverage pooling")
struct CoveragePoolingTests {
  typealias Row = CoverageFixtures.Row

  /// Deterministic pseudo-random rows of two tasks with different behaviour (LCG draws).
  static func rows() -> [Row] {
    var state: UInt64 = 12345
    func draw(_ n: Int) -> Int {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return Int((state >> 33) % UInt64(n))
    }
    var rows: [Row] = []
    for task in ["a", "b"] {
      var s = draw(4)
      for i in 0..<(task == "a" ? 300 : 120) {
        // Task a prefers action 0, task b action 2; episodes of 10 steps.
        let preferred = task == "a" ? 0 : 2
        let action = draw(3) == 0 ? draw(3) : preferred
        let next = (s + action + draw(2)) % 4
        let terminated = draw(25) == 0
        rows.append(
          Row(
            task: task, episode: i / 10, step: i % 10, state: s, action: action, next: next,
            terminated: terminated, behaviorProbability: action == preferred ? 7.0 / 9 : 1.0 / 9))
        s = terminated || i % 10 == 9 ? draw(4) : next
      }
    }
    return rows
  }

  @Test func pooledEqualsTheConcatenatedTasks() throws {
    let directory = try Fixtures.TemporaryDirectory("coverage-pool")
    let rows = Self.rows()
    let twoTasks = try CoverageFixtures.store(
      rows, states: 4, actions: 3, in: directory, name: "two")
    // The same rows as one task (b's episodes renumbered after a's).
    let merged = rows.map { row -> Row in
      var copy = row
      if row.task == "b" { copy.episode += 1000 }
      copy.task = "all"
      return copy
    }
    let oneTask = try CoverageFixtures.store(
      merged, states: 4, actions: 3, in: directory, name: "one")

    for features in ["one-hot", "raw:no-normalize"] {
      var options = CoverageOptions(store: twoTasks)
      options.gamma = 0.8
      options.features = try CoverageOptions.parseFeatures(features)
      let pooledReport = try CoverageFixtures.analyse(options)
      options.store = oneTask
      let singleReport = try CoverageFixtures.analyse(options)
      let pooled = pooledReport.pooled
      let single = try #require(singleReport.tasks.first)

      #expect(pooled.tasks == ["a", "b"] && pooled.transitions == 420)
      #expect(pooled.transitions == pooledReport.tasks.reduce(0) { $0 + $1.transitions })
      let p = try #require(pooled.tabular)
      let s = try #require(single.tabular)
      #expect(p.counts == s.counts)
      #expect(p.unseenShare == s.unseenShare && p.minCount == s.minCount)
      #expect(approx(p.dataBound, s.dataBound))
      #expect(approx(p.occupancy.concentrability, s.occupancy.concentrability, 1e-12))
      #expect(approx(p.occupancy.chiSquare, s.occupancy.chiSquare, 1e-12))
      let pf = pooled.baseFeatures
      let sf = single.baseFeatures
      #expect(
        approx(pf.lambdaMin, sf.lambdaMin, 1e-10) && approx(pf.lambdaMax, sf.lambdaMax, 1e-12))
      #expect(
        approx(pf.kappa, sf.kappa, 1e-9)
          && approx(pf.restrictedChiSquare, sf.restrictedChiSquare, 1e-9))
      #expect(approx(pooled.unsupportedBootstrap.rate, single.unsupportedBootstrap.rate))
      // Behaviour probabilities: the pooled weights are the tasks' weights concatenated.
      #expect(approx(pooled.importanceWeights?.ess ?? 0, single.importanceWeights?.ess ?? 1, 1e-12))

      // Per-task counts add up to the pooled ones.
      let a = try #require(pooledReport.tasks[0].tabular?.counts)
      let b = try #require(pooledReport.tasks[1].tabular?.counts)
      #expect(p.counts == zip(a, b).map { zip($0, $1).map { $0 + $1 } })
      // The report says how pooling changes the numbers.
      let unseen = try #require(pooledReport.pooling.first { $0.metric == "unseen_share" })
      #expect(unseen.pooled <= unseen.bestValue && unseen.worstValue >= unseen.bestValue)
      let lambda = try #require(pooledReport.pooling.first { $0.metric == "lambda_min" })
      #expect(lambda.better == "higher" && lambda.pooled >= lambda.worstValue * (1 - 1e-12))
    }
  }

  /// The passes scan the tasks in parallel (one thread per task at a time): each task's numbers
  /// must be those of the task analysed alone, and the pooled numbers those of the tasks in order.
  @Test func tasksScannedInParallelGiveEachTaskItsOwnReport() throws {
    let directory = try Fixtures.TemporaryDirectory("coverage-parallel")
    var state: UInt64 = 777
    func uniform() -> Double {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return Double(state >> 11) / Double(1 << 53)
    }
    var text = "task,episode,step,obs_0,obs_1,action,reward,next_obs_0,next_obs_1,terminated,truncated\n"
    let tasks = ["t0", "t1", "t2", "t3", "t4"]
    for (k, task) in tasks.enumerated() {
      // Tasks differ in where their states lie and in how often they take each action.
      var x = (uniform(), uniform())
      for i in 0..<(400 + 150 * k) {
        let action = uniform() < 0.2 + 0.15 * Double(k) ? 0 : 1 + Int(uniform() * 2)
        let next = (0.7 * x.0 + 0.3 * uniform() + Double(action) * 0.1 * Double(k), 0.5 * x.1 + uniform())
        let terminated = i % 40 == 39
        text += "\(task),\(i / 40),\(i % 40),\(x.0),\(x.1),\(action),0,\(next.0),\(next.1),\(terminated ? 1 : 0),0\n"
        x = terminated ? (uniform(), uniform()) : next
      }
    }
    let csv = directory.file("tasks.csv")
    try text.write(toFile: csv, atomically: true, encoding: .utf8)
    let store = directory.file("tasks.h5")
    _ = try Ingester.run(
      Fixtures.options(
        [csv], output: store, observationSpace: .box(shape: [2], dtype: .float64, low: nil, high: nil),
        actionSpace: .discrete(n: 3, start: 0)))
    var options = CoverageOptions(store: store)
    options.features = try CoverageOptions.parseFeatures("fourier:16:1.0:no-normalize")
    options.blockRows = 128
    let all = try CoverageFixtures.analyse(options)
    #expect(all.timing.passes == 2 && all.tasks.map(\.tasks) == tasks.map { [$0] })
    func same(_ a: Double, _ b: Double) -> Bool { a == b || abs(a - b) <= 1e-12 * max(abs(a), abs(b)) }
    for (index, task) in tasks.enumerated() {
      options.tasks = [task]
      let alone = try #require(try CoverageFixtures.analyse(options).tasks.first)
      let inAll = all.tasks[index]
      #expect(inAll.transitions == alone.transitions, "\(task)")
      let a = inAll.baseFeatures
      let b = alone.baseFeatures
      #expect(same(a.lambdaMin, b.lambdaMin) && same(a.lambdaMax, b.lambdaMax) && same(a.kappa, b.kappa), "\(task)")
      #expect(same(a.restrictedChiSquare, b.restrictedChiSquare) && same(a.effectiveRank, b.effectiveRank), "\(task)")
      let x = inAll.unsupportedBootstrap
      let y = alone.unsupportedBootstrap
      #expect(x.rule == "mahalanobis" && x.testedRows == y.testedRows && x.dataTestedRows == y.dataTestedRows, "\(task)")
      #expect(same(x.rate, y.rate) && same(x.dataRate ?? -1, y.dataRate ?? -1), "\(task)")
    }
    // The pooled scope holds every task's rows, in task order.
    #expect(all.pooled.tasks == tasks)
    #expect(all.pooled.transitions == all.tasks.reduce(0) { $0 + $1.transitions })
  }
}
