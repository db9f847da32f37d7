import Foundation
import Numerics
import Testing

@testable import MTFQI

/// The statistics of the frozen-vs-scratch call (Fit/PolicyComparison.swift), with answers
/// derived by hand.
@Suite("Reuse: frozen-vs-scratch statistics (cross-fitting, paired SE, reward span test)")
struct PolicyComparisonTests {
  @Test("The Beta distribution function matches closed forms")
  func incompleteBeta() {
    for x in [0.01, 0.2, 0.5, 0.77, 0.99] {
      // I_x(1, 1) = x; I_x(3, 1) = x^3; I_x(2, 3) = 6x^2(1-x)^2 + 4x^3(1-x) + x^4.
      let uniform = PolicyComparison.regularizedIncompleteBeta(x, 1, 1)
      #expect(uniform.isApproximatelyEqual(to: x, relativeTolerance: 1e-12))
      let cube = PolicyComparison.regularizedIncompleteBeta(x, 3, 1)
      #expect(cube.isApproximatelyEqual(to: x * x * x, relativeTolerance: 1e-12))
      let y = 1 - x
      let exact = 6 * x * x * y * y + 4 * x * x * x * y + x * x * x * x
      let value = PolicyComparison.regularizedIncompleteBeta(x, 2, 3)
      #expect(value.isApproximatelyEqual(to: exact, relativeTolerance: 1e-12), "x = \(x)")
    }
    // Symmetric shapes: I_{1/2}(a, a) = 1/2, also for the half-integer shapes k/2 of the test.
    for a in [0.5, 1.5, 2, 7.5] {
      let half = PolicyComparison.regularizedIncompleteBeta(0.5, a, a)
      #expect(half.isApproximatelyEqual(to: 0.5, relativeTolerance: 1e-12), "a = \(a)")
    }
    #expect(PolicyComparison.regularizedIncompleteBeta(0, 2, 3) == 0)
    #expect(PolicyComparison.regularizedIncompleteBeta(1, 2, 3) == 1)
  }

  @Test("Paired differences: mean and the episode-clustered standard error by hand")
  func paired() {
    // Unit 1: 1, 3; unit 2: -1, 1. Mean 1; centred unit sums 2 and -2; SE^2 = 2/1 x 8 / 16 = 1.
    let paired = PolicyComparison.Paired([1, 3, -1, 1], units: [1, 1, 2, 2])
    #expect(paired.mean == 1)
    #expect(paired.standardError.isApproximatelyEqual(to: 1, relativeTolerance: 1e-14))
    #expect(paired.units == 2)
    #expect(!paired.frozenSignificantlyWorse)
    // Clearly below zero: significant.
    let worse = PolicyComparison.Paired([-5, -5.5, -4.5, -5.2, -4.8, -5], units: [1, 1, 2, 2, 3, 3])
    #expect(worse.frozenSignificantlyWorse, "\(worse)")
    // One episode: nothing is significant.
    let single = PolicyComparison.Paired([-5, -6, -7], units: [4, 4, 4])
    #expect(single.standardError == .infinity)
    #expect(!single.frozenSignificantlyWorse)
  }

  /// A paired difference with the given mean and standard error over `units` episodes of one
  /// row each, alternately mean + a and mean - a (the last one the mean when U is odd):
  /// SE = a / sqrt(U - 1) for even U, a / sqrt(U) for odd U. 200 units by default, where the
  /// critical value is 2.
  static func paired(mean: Double, standardError: Double, units: Int = 200)
    -> PolicyComparison.Paired
  {
    let odd = units % 2 == 1
    let a = standardError * Double(odd ? units : units - 1).squareRoot()
    let values = (0..<units).map { i in
      odd && i == units - 1 ? mean : mean + (i % 2 == 0 ? a : -a)
    }
    return PolicyComparison.Paired(values, units: (0..<units).map { Int64($0) })
  }

  @Test("Critical values: Student's t quantiles with episodes - 1 degrees of freedom, at least 2")
  func criticalValues() {
    // Tables (t 0.975): 12.706 (1), 2.776 (4), 2.571 (5), 2.228 (10), 2.042 (30), 2.0003
    // (about 61), 1.984 (100).
    let table: [(Double, Double)] = [
      (1, 12.706204736), (4, 2.776445105), (5, 2.570581836), (10, 2.228138852), (30, 2.042272456),
      (100, 1.983971519),
    ]
    for (nu, t) in table {
      let q = PolicyComparison.studentQuantile(0.975, degreesOfFreedom: nu)
      #expect(q.isApproximatelyEqual(to: t, relativeTolerance: 1e-8), "nu = \(nu): \(q)")
    }
    #expect(PolicyComparison.criticalValue(units: 5) == PolicyComparison.studentQuantile(0.975, degreesOfFreedom: 4))
    #expect(PolicyComparison.criticalValue(units: 101) == 2)
    #expect(PolicyComparison.criticalValue(units: 1) == .infinity)
    // gym_check seed 10, four-rooms continuing inside the span: the placebo excess -0.4279 +-
    // 0.2061 over 5 episodes is 2.08 SE, below t(4); frozen was the better policy.
    let excess = Self.paired(mean: -0.4279, standardError: 0.2061, units: 5)
    #expect(excess.standardError.isApproximatelyEqual(to: 0.2061, relativeTolerance: 1e-12))
    #expect(!excess.frozenSignificantlyWorse)
    #expect(Self.paired(mean: -0.4279, standardError: 0.2061).frozenSignificantlyWorse)
  }

  @Test("The decision: scratch only when the all-rows estimate is significant and the held-out one confirms it by one SE")
  func decision() throws {
    let check = Self.paired(mean: -1, standardError: 0.25)
    #expect(check.mean.isApproximatelyEqual(to: -1, relativeTolerance: 1e-14))
    #expect(check.standardError.isApproximatelyEqual(to: 0.25, relativeTolerance: 1e-12))
    func call(_ full: (Double, Double), _ held: (Double, Double))
      -> (String, PolicyComparison.Basis, String)
    {
      HeadFitter.decide(
        vanish: false, rewardSpan: nil,
        full: Self.paired(mean: full.0, standardError: full.1),
        held: Self.paired(mean: held.0, standardError: held.1), frozenFitted: true,
        scratchFitted: true)
    }
    func decide(_ full: (Double, Double), _ held: (Double, Double)) -> String { call(full, held).0 }
    func basis(_ full: (Double, Double), _ held: (Double, Double)) -> PolicyComparison.Basis {
      call(full, held).1
    }
    // gym_check --seed 2, four-rooms rich, new task inside the span (frozen was far better in
    // the environment): the held-out difference is noise, so frozen.
    #expect(decide((-0.1085, 0.03464), (-2.329e-4, 2.535e-4)) == "frozen")
    // gym_check, four-rooms rich and CliffWalking, new tasks outside the span (scratch was
    // better): the held-out estimate confirms by more than one SE.
    #expect(decide((-0.2483, 0.0911), (-0.05187, 0.03358)) == "scratch")
    #expect(decide((-20.6, 2.178), (-0.5356, 0.5057)) == "scratch")
    // Not significant on all rows, or the held-out estimate points the other way: frozen.
    #expect(decide((-0.1, 0.1), (-5, 1)) == "frozen")
    #expect(decide((-2.351, 0.279), (14.29, 5.67)) == "frozen")
    // Frozen significantly better on either model and significantly worse on neither: the
    // estimates decided (gym_check seed 0 CliffWalking inside the span, MountainCar's data-poor
    // task); significantly better on one and worse on the other (data/synth new00): not.
    #expect(call((3.614, 1.684), (4.435, 1.800)).0 == "frozen")
    #expect(call((3.614, 1.684), (4.435, 1.800)).1 == .valueEstimates)
    #expect(call((-2.351, 0.279), (14.29, 5.67)).1 == .noSignificantDifference)
    #expect(call((0.5, 1), (14.29, 5.67)).1 == .valueEstimates)
    #expect(call((0.6153, 0.06341), (-0.1719, 0.07697)).0 == "frozen")
    #expect(call((0.6153, 0.06341), (-0.1719, 0.07697)).1 == .noSignificantDifference)
    // The rule that decided is named.
    #expect(basis((-20.6, 2.178), (-0.5356, 0.5057)) == .valueEstimates)
    #expect(basis((-0.1, 0.1), (-5, 1)) == .noSignificantDifference)
    let outside = HeadFitter.decide(
      vanish: false,
      rewardSpan: PolicyComparison.RewardSpan(captured: 0.033, chance: 0.059, pValue: 0.82),
      full: nil, held: nil, frozenFitted: true, scratchFitted: true)
    #expect(outside.0 == "scratch" && outside.1 == .rewardSpan)
    // The earlier rules still come first.
    let vanished = HeadFitter.decide(
      vanish: true, rewardSpan: nil, full: nil, held: nil, frozenFitted: true,
      scratchFitted: true)
    #expect(vanished.0 == "scratch" && vanished.1 == .featuresVanish)
    let noScratch = HeadFitter.decide(
      vanish: false, rewardSpan: nil, full: nil, held: nil, frozenFitted: true,
      scratchFitted: false)
    #expect(noScratch.0 == "frozen")
  }

  @Test("Informative episodes: a reward other than the most common one, or a terminal state")
  func informativeEpisodes() {
    // Seven episodes of three rows: reward 0 is the most common; episode 11 pays 1 once,
    // episode 12 terminates without reward, episode 13 pays -0.5; the rest are all 0.
    let episodes: [Int64] = (10..<17).flatMap { Array(repeating: Int64($0), count: 3) }
    var rewards = [Double](repeating: 0, count: 21)
    var terminations = [UInt8](repeating: 0, count: 21)
    rewards[4] = 1
    terminations[8] = 1
    rewards[9] = -0.5
    func task(_ rewards: [Double], _ terminations: [UInt8], episodes: [Int64]) -> TaskTransitions {
      let n = rewards.count
      return TaskTransitions(
        name: "t", observationSpace: .discrete(n: 2, start: 0),
        actionSpace: .discrete(n: 2, start: 0), observations: Array(repeating: 0, count: n),
        nextObservations: Array(repeating: 0, count: n), actions: Array(repeating: 0, count: n),
        rewards: rewards, terminations: terminations, steps: Array(repeating: 0, count: n),
        episodes: episodes)
    }
    typealias Counts = PolicyComparison.InformativeEpisodes
    #expect(
      PolicyComparison.informativeEpisodes(task(rewards, terminations, episodes: episodes))
        == Counts(informative: 3, episodes: 7))
    rewards[13] = 1
    rewards[20] = 2
    #expect(
      PolicyComparison.informativeEpisodes(task(rewards, terminations, episodes: episodes))
        == Counts(informative: 5, episodes: 7))
    // A step cost on every row (the most common reward, -1) says nothing by itself; without
    // episode ids every row is its own episode.
    let costs = [Double](repeating: -1, count: 6) + [-100]
    #expect(
      PolicyComparison.informativeEpisodes(task(costs, [0, 0, 0, 0, 0, 1, 0], episodes: []))
        == Counts(informative: 2, episodes: 7))
    // A tie between the most common rewards takes the smaller as the common one.
    #expect(
      PolicyComparison.informativeEpisodes(task([0, 0, 1, 1], [0, 0, 0, 0], episodes: [1, 2, 3, 4]))
        == Counts(informative: 2, episodes: 4))
  }

  @Test("Evidence follows the rule that decided: significant only when the value estimates did")
  func evidenceOfBasis() {
    typealias Basis = PolicyComparison.Basis
    let expected: [(Basis, PolicyComparison.Evidence)] = [
      (.featuresVanish, .forced), (.frozenFailed, .forced), (.scratchFailed, .forced),
      (.valueEstimates, .significant), (.placebo, .significant),
      (.rewardSpan, .inconclusive),
      (.noSignificantDifference, .inconclusive),
    ]
    for (basis, evidence) in expected { #expect(PolicyComparison.Evidence(basis) == evidence) }
    var comparison = FrozenScratchComparison(
      recommended: "frozen", frozenValue: 1, scratchValue: 1, spanCaptured: 1, headRidge: 1,
      scratchRidge: 1, heldOutRows: 10, candidates: [], frozenFailure: nil)
    comparison.basis = Basis.noSignificantDifference.rawValue
    comparison.episodes = 8
    comparison.informativeEpisodes = 2
    #expect(comparison.evidence == "inconclusive")
    #expect(
      comparison.evidenceWarning
        == "the estimated values do not settle which greedy policy is better, so the call (frozen) rests on the default, the simpler frozen model: the two may be about equally good, or the task's data too few to say (2 of its 8 episodes show a reward other than the most common one or reach a terminal state)")
    comparison.valueDifference = -0.0432
    comparison.differenceStandardError = 0.0317
    comparison.heldOutValueDifference = 0
    comparison.heldOutDifferenceStandardError = 0
    #expect(
      comparison.evidenceWarning?.hasPrefix(
        "the estimated values do not settle which greedy policy is better (frozen - scratch = -0.0432 +- 0.0317 on the task's data, 0.0 +- 0.0 held out), so the call (frozen)") == true,
      "\(comparison.evidenceWarning ?? "")")
    comparison.basis = Basis.placebo.rawValue
    #expect(comparison.evidence == "significant" && comparison.evidenceWarning == nil)
  }

  @Test("Cross-fitting folds: every row once, episodes whole, seeded")
  func folds() {
    let episodes: [Int64] = (0..<23).flatMap { e in Array(repeating: Int64(100 + e), count: 3 + e % 4) }
    let n = episodes.count
    let task = TaskTransitions(
      name: "t", observationSpace: .discrete(n: 2, start: 0), actionSpace: .discrete(n: 2, start: 0),
      observations: Array(repeating: 0, count: n), nextObservations: Array(repeating: 0, count: n),
      actions: Array(repeating: 0, count: n), rewards: Array(repeating: 0, count: n),
      terminations: Array(repeating: 0, count: n), steps: Array(repeating: 0, count: n),
      episodes: episodes)
    let folds = PolicyComparison.folds(task, seed: 7)
    #expect(folds.count == PolicyComparison.foldCount)
    #expect(folds.flatMap { $0 }.sorted() == Array(0..<n))
    for fold in folds {
      let ids = Set(fold.map { episodes[$0] })
      // An episode's rows are all in this fold.
      #expect(fold.count == episodes.filter { ids.contains($0) }.count)
      #expect(ids.count >= 4 && ids.count <= 5, "\(ids.count) episodes")
    }
    #expect(PolicyComparison.folds(task, seed: 7) == folds)
    #expect(PolicyComparison.folds(task, seed: 8) != folds)
  }

  /// One-hot rows over 4 states x 2 actions: pair p = s * 2 + a seen `copies` times, reward
  /// `reward(p)`.
  static func problem(_ reward: (Int) -> Double, copies: Int = 3) throws -> RegressionData {
    var observations: [Double] = []
    var actions: [Int64] = []
    var rewards: [Double] = []
    for p in 0..<8 {
      for _ in 0..<copies {
        observations.append(Double(p / 2))
        actions.append(Int64(p % 2))
        rewards.append(reward(p))
      }
    }
    let n = rewards.count
    let task = TaskTransitions(
      name: "r", observationSpace: .discrete(n: 4, start: 0), actionSpace: .discrete(n: 2, start: 0),
      observations: observations, nextObservations: observations, actions: actions,
      rewards: rewards, terminations: Array(repeating: 1, count: n),
      steps: Array(repeating: 0, count: n))
    let map = try FeatureMap.build(
      spec: FeatureMapSpec(kind: .oneHot), observationSpace: task.observationSpace,
      actionSpace: task.actionSpace, trainingObservations: [], seed: 0)
    return try RegressionData.build([(task, nil)], featureMap: map, discount: 0.9)[0]
  }

  /// A one-column B over the 8 pairs of `problem`, with the given entries.
  static func span(_ entries: [Int: Double]) -> Matrix {
    var b = Matrix(rows: 8, columns: 1)
    for (pair, value) in entries { b.storage[pair] = value }
    return b
  }

  @Test("Reward span test: a span holding the reward passes, an orthogonal one is outside")
  func rewardSpan() throws {
    // Reward on pairs 1 and 6; B's one column is that reward pattern (captured 1), or a
    // pattern on pairs 0 and 3 (captured 0). p = 8 resolved dimensions, k = 1: chance 1/8.
    let data = try Self.problem { $0 == 1 || $0 == 6 ? 1 : 0 }
    let aligned = Self.span([1: 2, 6: 2])
    let inside = try #require(try PolicyComparison.rewardSpan(data, b: aligned))
    #expect(inside.captured.isApproximatelyEqual(to: 1, relativeTolerance: 1e-9))
    #expect(inside.chance == 1.0 / 8)
    #expect(inside.pValue < 1e-9)
    #expect(!inside.outsideSpan)
    let orthogonal = Self.span([0: 1, 3: 1])
    let outside = try #require(try PolicyComparison.rewardSpan(data, b: orthogonal))
    #expect(outside.captured.magnitude < 1e-9)
    #expect(outside.pValue.isApproximatelyEqual(to: 1, relativeTolerance: 1e-9))
    #expect(outside.outsideSpan)
    // Half the reward (pair 1 only): captured 1/2; P(Beta(1/2, 7/2) >= 1/2) = 0.033146
    // (scipy.stats.beta(0.5, 3.5).sf(0.5)).
    let half = Self.span([1: 1])
    let partial = try #require(try PolicyComparison.rewardSpan(data, b: half))
    #expect(partial.captured.isApproximatelyEqual(to: 0.5, relativeTolerance: 1e-9))
    #expect(partial.pValue.isApproximatelyEqual(to: 0.0331455, relativeTolerance: 1e-5), "\(partial)")
    // No reward at all: the test has nothing to say.
    #expect(try PolicyComparison.rewardSpan(try Self.problem { _ in 0 }, b: aligned) == nil)
  }

  @Test("Placebo rewards: the reward moved into the frozen span, row by row")
  func placeboRewards() throws {
    // Reward 1 on pairs 1 and 6 (three rows each), 0 elsewhere. The reward fit's ridge (1e-9
    // times the mean Gram diagonal) leaves errors of about 1e-8.
    let data = try Self.problem { $0 == 1 || $0 == 6 ? 1 : 0 }
    // A span holding the reward: the placebo is the reward itself.
    let same = try PolicyComparison.spanRewards(data, b: Self.span([1: 2, 6: 2]))
    #expect(zip(same, data.rewards).allSatisfy { abs($0 - $1) < 1e-6 }, "\(same)")
    // A span holding pair 1 only: pair 6's reward is gone, pair 1's stays.
    let placebo = try PolicyComparison.spanRewards(data, b: Self.span([1: 1]))
    guard case .pairs(let pairs, _, _, _, _) = data.layout else {
      Issue.record("one-hot data are pairs")
      return
    }
    for (i, pair) in pairs.enumerated() {
      #expect(abs(placebo[i] - (pair == 1 ? 1 : 0)) < 1e-6, "row \(i), pair \(pair): \(placebo[i])")
    }
    // An orthogonal span: no reward at all.
    #expect(try PolicyComparison.spanRewards(data, b: Self.span([0: 1])).allSatisfy { abs($0) < 1e-6 })
  }

  @Test("The placebo route: scratch when frozen is significantly worse beyond the placebo and most of the difference remains")
  func placeboDecision() {
    func decide(_ full: (Double, Double), _ held: (Double, Double), _ excess: (Double, Double)?)
      -> String
    {
      HeadFitter.decide(
        vanish: false, rewardSpan: nil,
        full: Self.paired(mean: full.0, standardError: full.1),
        held: Self.paired(mean: held.0, standardError: held.1),
        excess: excess.map { Self.paired(mean: $0.0, standardError: $0.1) }, frozenFitted: true,
        scratchFitted: true
      ).0
    }
    // gym_check seeds 3 and 4, CliffWalking outside the span (scratch optimal in the
    // environment, frozen's gap 22.8): the held-out fold says frozen is better, the placebo
    // explains none of the all-rows difference.
    #expect(decide((-12.55, 4.943), (1.096, 0.8653), (-13.74, 3.933)) == "scratch")
    #expect(decide((-16.22, 3.719), (1.279, 0.3065), (-19.09, 3.136)) == "scratch")
    // MountainCar new_in_small, inside the span (frozen better in the environment): the
    // placebo reproduces most of the all-rows difference (-0.52 of -2.35 remains).
    #expect(decide((-2.351, 0.279), (14.29, 5.67), (-0.5175, 0.1709)) == "frozen")
    // Without the placebo, or with an excess that is not significant: frozen.
    #expect(decide((-12.55, 4.943), (1.096, 0.8653), nil) == "frozen")
    #expect(decide((-12.55, 4.943), (1.096, 0.8653), (-13.74, 8)) == "frozen")
    // The all-rows difference must itself be significant.
    #expect(decide((-1, 1), (1, 1), (-10, 1)) == "frozen")
  }
}
