import Foundation
import Numerics
import Testing

@testable import MTFQI

/// With a model: the greedy target policy, the learned space B-hat^T psi and task diversity,
/// on a hand-made model.h5 whose answers are worked out by hand.
@Suite("Coverage with a model")
struct CoverageModelTests {
  /// One-hot psi on S = 2, A = 2; B maps every pair to the one-hot of its action (k = 2); one
  /// task with head w = [1, 2], so Q(s, 0) = 1, Q(s, 1) = 2 and the greedy action is 1.
  static func writeModel(to path: String) throws {
    let map = try FeatureMap.build(
      spec: FeatureMapSpec(kind: .oneHot), observationSpace: .discrete(n: 2, start: 0),
      actionSpace: .discrete(n: 2, start: 0), trainingObservations: [], seed: 0)
    let b = Matrix(rows: 4, columns: 2, rowMajor: [1, 0, 0, 1, 1, 0, 0, 1])
    let w = Matrix(rows: 2, columns: 1, columnMajor: [1, 2])
    let record = IterationRecord(
      iteration: 1, step: -1, sweeps: 1, objective: 0, bellmanResiduals: [0], qChanges: [0],
      maxAbsNextQ: [0], seconds: 0)
    let model = TrainedModel(
      featureMap: map,
      parameters: FQIParameters(
        objective: .discounted(gamma: 0.5, iterations: 1), rank: 2, ridge: 1e-3),
      stepData: .pooled, taskNames: ["t0"], representations: [b], heads: [w], log: [record],
      singleTask: nil, oracle: nil, oracleFeatures: nil, evaluation: nil, seed: 0, storePath: "",
      storeSHA256: "", configJSON: "{}", seconds: 0)
    try model.write(to: path)
  }

  @Test func greedyPolicyLearnedSpaceAndDiversity() throws {
    let directory = try Fixtures.TemporaryDirectory("coverage-model")
    let store = try CoverageFixtures.store(
      CoverageFixtures.coveredRows, states: 2, actions: 2, in: directory)
    let modelPath = directory.file("model.h5")
    try Self.writeModel(to: modelPath)
    var options = CoverageOptions(store: store)
    options.model = modelPath
    options.policy = .greedy
    options.gates.minSigmaK = 0.1
    let report = try CoverageFixtures.analyse(options)
    #expect(report.objective.mode == "discounted" && report.objective.gamma == 0.5)
    #expect(report.objective.source == "model" && report.features.source == "model")
    let task = try #require(report.tasks.first)

    // Greedy chain from rho = [1, 0]: s0 -(a1)-> s1; s1 -(a1)-> s0 or s1 with 1/2 each.
    // d(s) solves d (I - gamma M) = (1 - gamma) rho: d = [0.6, 0.4], all on action 1.
    let occupancy = try #require(task.tabular?.occupancy)
    #expect(approx(occupancy.concentrability, 0.6 * 6, 1e-12))
    #expect(occupancy.argmaxState == 0 && occupancy.argmaxAction == 1)
    #expect(approx(occupancy.chiSquare, (0.36 * 6 + 0.16 * 3).squareRoot(), 1e-12))

    // Base space: the greedy targets put mass 1/2 on (0, 1) and (1, 1).
    let ridge = 1e-6 / 4
    #expect(approx(task.baseFeatures.kappa, 0.5 / (1.0 / 6 + ridge)))
    #expect(
      approx(
        task.baseFeatures.restrictedChiSquare, 0.25 / (1.0 / 6 + ridge) + 0.25 / (1.0 / 3 + ridge)))
    #expect(task.unsupportedBootstrap.rate == 0)

    // Learned space: Sigma_mu = diag(1/2, 1/2), Sigma_pi = diag(0, 1), nu = [0, 1].
    let learned = try #require(task.learnedFeatures?.first)
    let learnedRidge = 1e-6 * 1.0 / 2
    #expect(learned.space == "learned" && learned.dimension == 2 && learned.step == nil)
    #expect(approx(learned.lambdaMin, 0.5) && approx(learned.conditionNumber, 1))
    #expect(approx(learned.kappa, 1 / (0.5 + learnedRidge)))
    #expect(approx(learned.restrictedChiSquare, 1 / (0.5 + learnedRidge)))

    // Importance weights: w = [a == 1] / beta(1|s): 3 for (0,1), 1.5 for both (1,1) rows.
    let weights = try #require(task.importanceWeights)
    #expect(approx(weights.ess, 36 / 13.5) && approx(weights.maxWeight, 3))

    // Diversity: W = [1, 2]^T has singular values [sqrt 5, 0]: T = 1 < k = 2.
    let diversity = try #require(report.taskDiversity?.first)
    #expect(
      approx(diversity.singularValues[0], 5.0.squareRoot()) && diversity.singularValues[1] == 0)
    #expect(diversity.sigmaK == 0 && diversity.conditionNumber == .infinity)
    #expect(diversity.warning?.contains("only 1 task") == true)
    #expect(!report.gates.passed)
    #expect(report.gates.failures.map(\.scope) == ["model"])
    #expect(
      report.gates.failures.first?.message.contains("sigma_k = 0 is below --min-sigma-k 0.1")
        == true)
  }

  @Test func optionConflictsAreUsageErrors() throws {
    let directory = try Fixtures.TemporaryDirectory("coverage-usage")
    let store = try CoverageFixtures.store(
      CoverageFixtures.coveredRows, states: 2, actions: 2, in: directory)
    func usageMessage(_ change: (inout CoverageOptions) -> Void) -> String? {
      var options = CoverageOptions(store: store)
      change(&options)
      do {
        _ = try CoverageAnalysis.run(options)
        return nil
      } catch {
        if case .usage(let message) = error { return message }
        return "not a usage error: \(error)"
      }
    }
    #expect(usageMessage { $0.policy = .greedy }?.contains("--model") == true)
    #expect(usageMessage { $0.gates.minSigmaK = 1 }?.contains("needs --model") == true)
    #expect(usageMessage { $0.gamma = 1 }?.contains("[0, 1)") == true)
    #expect(
      usageMessage {
        $0.model = "m.h5"
        $0.features = FeatureMapSpec(kind: .oneHot)
      } != nil)
    expectError(CoverageError.self, case: "usage") { try CoverageOptions.parseFeatures("fourier:x") }
    #expect(
      try CoverageOptions.parseFeatures("fourier:32:0.5")
        == FeatureMapSpec(kind: .fourier, fourierFeatures: 32, bandwidth: 0.5))
  }
}
