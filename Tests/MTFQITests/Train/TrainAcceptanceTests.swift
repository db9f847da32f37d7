import Foundation
import Testing

@testable import MTFQI

/// The acceptance check of issue 4 through the library entry point of `mtfqi-train`: logs of
/// a synthetic family with exact truth, ingested into a store, trained with the truth file.
@Suite("Train: multitask against single-task and the oracle, against Q*")
struct TrainAcceptanceTests {
  @Test(
    "T = 16, n = 2000, k = 4, d = 40: multitask error < single-task error; the oracle beats both")
  func multitaskBeatsSingleTaskAndOracleBeatsBoth() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-acceptance")
    let paths = try TrainFixtures.pipeline(
      TrainFixtures.parameters(tasks: 16, samples: 2000, seed: 7), in: directory.path)
    var config = TrainConfig()
    config.features = FeatureMapSpec(kind: .table, table: paths.features)
    // The algorithm at fixed settings (the previous defaults): rank 4, ridge 1e-6 on B and the
    // heads, so the three methods share one ridge. Selection (auto) is tested in its own suite.
    config.rank = 4
    config.rankAuto = false
    config.ridge = 1e-6
    config.ridgeAuto = false
    config.headRidge = 1e-6
    config.headRidgeAuto = false
    config.iterations = 100
    config.truth = paths.truth
    let summary = try Trainer.run(
      TrainRequest(store: paths.store, output: directory.file("model.h5"), config: config))
    let evaluation = try #require(summary.evaluation)
    let multitask = NumberText.mean(evaluation.multitask)
    let single = NumberText.mean(try #require(evaluation.singleTask))
    let oracle = NumberText.mean(try #require(evaluation.oracle))
    #expect(evaluation.tasks.count == 16)
    #expect(multitask < single, "multitask \(multitask), single-task \(single)")
    #expect(oracle <= multitask && oracle <= single, "oracle \(oracle)")
    let sin = try #require(evaluation.sinTheta?.first)
    #expect(sin < 0.1, "sin theta \(sin)")
    print(
      "acceptance T=16 n=2000 k=4 d=40: Q error multitask \(multitask), single-task \(single), oracle \(oracle); sin theta \(sin), function space \(evaluation.sinThetaFunctions)"
    )
  }
}
