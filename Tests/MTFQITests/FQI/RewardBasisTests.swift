import Foundation
import Numerics
import Testing

@testable import MTFQI

/// The training tasks' reward models and the test of a new task's reward against their span
/// (FQI/RewardBasis.swift), on tabular tasks whose rewards are paid for the state reached.
@Suite("Reward basis: the training tasks' reward models and the reward span test")
struct RewardBasisTests {
  static let states = 6
  static let actions = 2

  /// A task on S = 6 states, A = 2 actions whose next state is uniform over all states
  /// (whatever the action: the reward of a row depends on s', not on (s, a)); `pays[s']` is the
  /// reward for reaching s', plus N(0, noise^2).
  static func task(
    _ name: String, pays: [Int: Double], rows: Int, noise: Double = 0, seed: UInt64
  ) -> TaskTransitions {
    var generator = Xoshiro256StarStar(seed: seed, stream: "tests/reward-basis")
    var observations: [Double] = []
    var next: [Double] = []
    var chosen: [Int64] = []
    var rewards: [Double] = []
    for _ in 0..<rows {
      let s = generator.nextIndex(below: Self.states)
      let s2 = generator.nextIndex(below: Self.states)
      observations.append(Double(s))
      next.append(Double(s2))
      chosen.append(Int64(generator.nextIndex(below: Self.actions)))
      rewards.append((pays[s2] ?? 0) + noise * generator.nextNormal())
    }
    return TaskTransitions(
      name: name, observationSpace: .discrete(n: Int64(Self.states), start: 0),
      actionSpace: .discrete(n: Int64(Self.actions), start: 0), observations: observations,
      nextObservations: next, actions: chosen, rewards: rewards,
      terminations: Array(repeating: 0, count: rows), steps: Array(repeating: 0, count: rows))
  }

  static func oneHot() throws -> FeatureMap {
    try FeatureMap.build(
      spec: FeatureMapSpec(kind: .oneHot), observationSpace: .discrete(n: Int64(states), start: 0),
      actionSpace: .discrete(n: Int64(actions), start: 0), trainingObservations: [], seed: 0)
  }

  /// Two training tasks paying for states 4 and 5; the basis and the map.
  static func basis(noise: Double = 0) throws -> (RewardBasis, FeatureMap) {
    let map = try oneHot()
    let training = [
      task("t0", pays: [4: 1], rows: 600, noise: noise, seed: 1),
      task("t1", pays: [5: 1], rows: 600, noise: noise, seed: 2),
    ]
    let basis = try #require(try RewardBasis.fit(training, problems: [], featureMap: map))
    return (basis, map)
  }

  static func test(_ task: TaskTransitions, _ basis: RewardBasis, _ map: FeatureMap) throws
    -> RewardBasis.SpanTest?
  {
    return try basis.test(task, map: map)
  }

  @Test("Known answers: theta_t is the reward paid per next state; no noise is left")
  func knownAnswers() throws {
    let (basis, map) = try Self.basis()
    #expect(basis.design == .stateActionNextState)
    // D + S = 12 + 6 dimensions; the design is collinear (the pair and next-state blocks both
    // sum to one), so only the fitted values are identified: reaching 4 is worth 1 in task 0.
    #expect(basis.dimension == 18 && basis.thetas.count == 2)
    guard let design = RewardBasis.PairDesign(map) else {
      Issue.record("one-hot is a pair map")
      return
    }
    for s in 0..<Self.states {
      for s2 in 0..<Self.states {
        let pair = s * Self.actions
        let paid0 = design.value(basis.thetas[0], pair: pair, next: s2)
        let paid1 = design.value(basis.thetas[1], pair: pair + 1, next: s2)
        #expect(abs(paid0 - (s2 == 4 ? 1 : 0)) < 1e-4, "task 0, s \(s) -> \(s2): \(paid0)")
        #expect(abs(paid1 - (s2 == 5 ? 1 : 0)) < 1e-4, "task 1, s \(s) -> \(s2): \(paid1)")
      }
    }
    // Rewards that are a function of (s, a, s') leave nothing but the ridge's shrinkage.
    #expect(basis.noiseVariance < 1e-9, "\(basis.noiseVariance)")
    // n - df: 1,200 rows less about 17 identified dimensions per task.
    #expect(basis.noiseDegreesOfFreedom > 1_100 && basis.noiseDegreesOfFreedom < 1_190)
  }

  @Test("FQI's (pair, next state) groups give the same fit as the rows, terminal rows included")
  func groupsMatchRows() throws {
    let map = try Self.oneHot()
    var task = Self.task("t", pays: [4: 1, 1: 0.25], rows: 3_000, noise: 0.1, seed: 7)
    // Every 7th row terminates (its next state is kept by the reward design, not by the groups).
    for row in stride(from: 0, to: task.count, by: 7) { task.terminations[row] = 1 }
    let problem = try RegressionData.build([(task, nil)], featureMap: map, discount: 0.9)[0]
    let groups = try #require(problem.pairGroups)
    guard let design = RewardBasis.PairDesign(map) else {
      Issue.record("one-hot is a pair map")
      return
    }
    let byRows = try design.fit(task)
    let byGroups = try design.fit(task, groups: groups)
    for (a, b) in zip(byRows.theta, byGroups.theta) { #expect(abs(a - b) < 1e-9, "\(a) \(b)") }
    #expect(byRows.residualSum.isApproximatelyEqual(to: byGroups.residualSum, relativeTolerance: 1e-9))
    #expect(
      byRows.degreesOfFreedom.isApproximatelyEqual(to: byGroups.degreesOfFreedom, relativeTolerance: 1e-9))
  }

  @Test("A mixture of the training rewards is inside the span; a reward for another state is outside")
  func insideAndOutside() throws {
    let (basis, map) = try Self.basis()
    let mixture = Self.task("mix", pays: [4: 0.3, 5: 0.7], rows: 120, seed: 3)
    let inside = try #require(try Self.test(mixture, basis, map))
    #expect(!inside.outsideSpan)
    #expect(inside.explained > 1 - 1e-6 && inside.largestResidual < 1e-4, "\(inside)")
    // Threshold: 10% of the reward range (0.7), the noise being 0.
    #expect(inside.threshold.isApproximatelyEqual(to: 0.07, relativeTolerance: 1e-9))
    let other = Self.task("other", pays: [2: 1], rows: 120, seed: 4)
    let outside = try #require(try Self.test(other, basis, map))
    #expect(outside.outsideSpan)
    // Population answer: regressed on [1, 1{s' = 4}, 1{s' = 5}], the indicator of s' = 2 is
    // fitted by 1/4 where s' is neither 4 nor 5: R^2 = 1 - (4/6)(1/4)(3/4) / ((1/6)(5/6)) = 0.1,
    // and the largest residual is 3/4.
    #expect(abs(outside.explained - 0.1) < 0.08, "\(outside)")
    #expect(abs(outside.largestResidual - 0.75) < 0.1, "\(outside)")
    // Part of the reward outside: paying for 4 (inside) and, less, for 2 (outside).
    let partial = Self.task("partial", pays: [4: 1, 2: 0.3], rows: 120, seed: 5)
    #expect(try #require(try Self.test(partial, basis, map)).outsideSpan)
    // Nothing to test when every reward is equal.
    #expect(try Self.test(Self.task("none", pays: [:], rows: 50, seed: 6), basis, map) == nil)
  }

  @Test("Noisy rewards: the noise is estimated, and noise alone is not 'outside'")
  func noise() throws {
    let (basis, map) = try Self.basis(noise: 0.1)
    #expect(basis.noiseVariance.isApproximatelyEqual(to: 0.01, relativeTolerance: 0.15), "\(basis.noiseVariance)")
    // Ten seeds of an in-span task with the same noise: the Bonferroni bound (level 1%) keeps
    // them inside; a reward of 1 for reaching state 2 stands out of the same noise.
    for seed in UInt64(10)..<20 {
      let mixture = Self.task("mix", pays: [4: 0.5, 5: 0.5], rows: 200, noise: 0.1, seed: seed)
      let inside = try #require(try Self.test(mixture, basis, map))
      #expect(!inside.outsideSpan, "seed \(seed): \(inside)")
      let other = Self.task("other", pays: [2: 1], rows: 200, noise: 0.1, seed: seed)
      #expect(try #require(try Self.test(other, basis, map)).outsideSpan, "seed \(seed)")
    }
  }

  @Test("The decision: outside the training rewards' span is scratch, whatever the chance test says")
  func decision() {
    let full = PolicyComparisonTests.paired(mean: 0.1, standardError: 0.5, units: 8)
    let outside = RewardBasis.SpanTest(explained: 0.1, largestResidual: 0.9, threshold: 0.1)
    let inside = RewardBasis.SpanTest(explained: 1, largestResidual: 1e-5, threshold: 0.1)
    let chanceOutside = PolicyComparison.RewardSpan(captured: 0.01, chance: 0.1, pValue: 0.9)
    func decide(
      _ span: RewardBasis.SpanTest?, _ chance: PolicyComparison.RewardSpan?,
      values: PolicyComparison.Paired = full
    ) -> (String, PolicyComparison.Basis) {
      let (recommended, basis, _) = HeadFitter.decide(
        vanish: false, trainingSpan: span, rewardSpan: chance, full: values, held: values,
        frozenFitted: true, scratchFitted: true)
      return (recommended, basis)
    }
    #expect(decide(outside, nil) == ("scratch", .rewardSpan))
    // Frozen significantly worse (-1 +- 0.1 over 8 episodes, both estimates): the value
    // estimates already decide, and the call keeps their basis.
    let worse = PolicyComparisonTests.paired(mean: -1, standardError: 0.1, units: 8)
    #expect(decide(outside, nil, values: worse) == ("scratch", .valueEstimates))
    // Frozen significantly better, reward outside: scratch all the same.
    let better = PolicyComparisonTests.paired(mean: 1, standardError: 0.1, units: 8)
    #expect(decide(outside, nil, values: better) == ("scratch", .rewardSpan))
    // The direct test supersedes the chance test.
    #expect(decide(inside, chanceOutside) == ("frozen", .noSignificantDifference))
    // Without a reward basis, the chance test decides as before.
    #expect(decide(nil, chanceOutside) == ("scratch", .rewardSpan))
  }

  @Test("/reward_basis round-trips through HDF5, checked against the map on read")
  func roundTrip() throws {
    let (basis, map) = try Self.basis(noise: 0.1)
    let path = FileManager.default.temporaryDirectory.path + "/reward-basis-\(getpid()).h5"
    defer { try? FileManager.default.removeItem(atPath: path) }
    let file = try HDF5File.create(path)
    try basis.write(try file.root())
    try file.close()
    let reopened = try HDF5File.open(path)
    let read = try RewardBasis.read(reopened, map: map, tasks: 2, context: path)
    #expect(read == basis)
    // A basis of two tasks is refused for a model of three.
    #expect(throws: (any Error).self) {
      _ = try RewardBasis.read(reopened, map: map, tasks: 3, context: path)
    }
  }

  @Test(
    "Action-block maps keep no reward basis (their fits approximate, the noise bound does not hold), and an older file's state_action basis is read as none"
  )
  func actionBlockMapsKeepNone() throws {
    let space = Space.box(shape: [1], dtype: .float64, low: nil, high: nil)
    let n = 50
    let task = TaskTransitions(
      name: "box", observationSpace: space, actionSpace: .discrete(n: 2, start: 0),
      observations: (0..<n).map { Double($0) / 10 }, nextObservations: (0..<n).map { Double($0 + 1) / 10 },
      actions: (0..<n).map { Int64($0 % 2) }, rewards: (0..<n).map { Double($0 % 3) },
      terminations: Array(repeating: 0, count: n), steps: Array(repeating: 0, count: n))
    let map = try FeatureMap.build(
      spec: FeatureMapSpec(kind: .raw, normalize: false), observationSpace: space,
      actionSpace: .discrete(n: 2, start: 0), trainingObservations: [task.observations], seed: 0)
    let problems = try RegressionData.build([(task, nil)], featureMap: map, discount: 0.9)
    #expect(try RewardBasis.fit([task], problems: problems, featureMap: map) == nil)
    // A representation written before: /reward_basis with design "state_action", (T, D).
    let path = FileManager.default.temporaryDirectory.path + "/reward-basis-old-\(getpid()).h5"
    defer { try? FileManager.default.removeItem(atPath: path) }
    let file = try HDF5File.create(path)
    let group = try file.root().createGroup("reward_basis")
    try group.writeDataset("theta", [Double](repeating: 0.5, count: map.dimension), shape: [1, map.dimension])
    try group.setAttribute("design", "state_action")
    try group.setAttribute("relative_ridge", 1e-6)
    try group.setAttribute("noise_variance", 0.1)
    try group.setAttribute("noise_degrees_of_freedom", 40.0)
    try file.close()
    #expect(try RewardBasis.read(try HDF5File.open(path), map: map, tasks: 1, context: path) == nil)
  }
}
