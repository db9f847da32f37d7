import Foundation
import Testing

@testable import MTFQI

/// `QTableSource`: the Q tables per method of a model and of a head, as the writers and the
/// evaluation read them.
@Suite("Q tables per method: models and heads")
struct QTableSourceTests {
  /// One-hot psi on S = 2, A = 2; B maps every pair to the one-hot of its action (k = 2); one
  /// task with head w = [1, 2] (Q = 1 for action 0, 2 for action 1); a single-task baseline
  /// theta = [0.5, 1.5, 2.5, 3.5] and an oracle head 2 on phi* = [1, 0.5, 0.25, 0].
  static func model(baselines: Bool) throws -> TrainedModel {
    let map = try FeatureMap.build(
      spec: FeatureMapSpec(kind: .oneHot), observationSpace: .discrete(n: 2, start: 0),
      actionSpace: .discrete(n: 2, start: 0), trainingObservations: [], seed: 0)
    return TrainedModel(
      featureMap: map,
      parameters: FQIParameters(
        objective: .discounted(gamma: 0.5, iterations: 1), rank: 2, ridge: 1e-3),
      stepData: .pooled, taskNames: ["t0"],
      representations: [Matrix(rows: 4, columns: 2, rowMajor: [1, 0, 0, 1, 1, 0, 0, 1])],
      heads: [Matrix(rows: 2, columns: 1, columnMajor: [1, 2])], log: [],
      singleTask: baselines
        ? PerTaskFit(thetas: [Matrix(rows: 4, columns: 1, columnMajor: [0.5, 1.5, 2.5, 3.5])], log: [])
        : nil,
      oracle: baselines ? PerTaskFit(thetas: [Matrix(rows: 1, columns: 1, columnMajor: [2])], log: []) : nil,
      oracleFeatures: baselines ? Matrix(rows: 4, columns: 1, columnMajor: [1, 0.5, 0.25, 0]) : nil,
      evaluation: nil, seed: 0, storePath: "", storeSHA256: "", configJSON: "{}", seconds: 0)
  }

  @Test("A model: its methods, each method's table, nothing for a head's methods")
  func modelTables() throws {
    let plain = try Self.model(baselines: false)
    #expect(plain.qMethods == [.multitask])
    #expect(try plain.qTable(.singleTask, task: 0, step: 0, phiStar: nil) == nil)
    #expect(plain.isFiniteHorizon == false && plain.qTaskNames == ["t0"])

    let model = try Self.model(baselines: true)
    #expect(model.qMethods == [.multitask, .singleTask, .oracle])
    #expect(try model.qTable(.multitask, task: 0, step: 0, phiStar: nil) == [1, 2, 1, 2])
    #expect(try model.qTable(.singleTask, task: 0, step: 0, phiStar: nil) == [0.5, 1.5, 2.5, 3.5])
    #expect(try model.qTable(.oracle, task: 0, step: 0, phiStar: nil) == [2, 1, 0.5, 0])
    #expect(try model.qTable(.frozen, task: 0, step: 0, phiStar: nil) == nil)
    #expect(try model.qTables(.oracle, task: 0) == [[2, 1, 0.5, 0]])
  }

  @Test("The model writer: one CSV per task and method, exact numbers")
  func modelWriter() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-q-tables")
    let model = try Self.model(baselines: true)
    let primary = try QTableWriter.write(model, to: directory.file("primary"))
    #expect(primary == [directory.file("primary") + "/t0.csv"])
    #expect(
      try String(contentsOfFile: primary[0], encoding: .utf8)
        == "state,action_0,action_1\n0,1.0,2.0\n1,1.0,2.0\n")
    let all = try QTableWriter.write(
      model, methods: QMethod.allCases, phiStar: nil, to: directory.path)
    #expect(all.map { URL(fileURLWithPath: $0).lastPathComponent } == [
      "t0.csv", "t0-single-task.csv", "t0-oracle.csv",
    ])
    #expect(
      try String(contentsOfFile: all[2], encoding: .utf8)
        == "state,action_0,action_1\n0,2.0,1.0\n1,0.5,0.0\n")
  }

  @Test("A head: frozen, scratch and oracle tables (the oracle only with phi*), and its CSV files")
  func headTables() throws {
    let pipeline = try ReuseFixtures.small.get()
    let directory = try ReuseFixtures.scratch("q-table-source")
    let headPath = directory + "/head.h5"
    let tables = directory + "/tables"
    let fit = try ReuseFixtures.run(
      "mtfqi-fit",
      [
        pipeline.representation, pipeline.newStore, "--task", "new00", "-o", headPath, "--scratch",
        "--truth", pipeline.truth, "--q-tables", tables,
      ])
    try #require(fit.status == 0, "\(fit)")
    let head = try TrainedHead.read(headPath)
    #expect(head.qMethods == [.frozen, .scratch, .oracle] && head.qTaskNames == ["new00"])
    #expect(try head.qTable(.oracle, task: 0, step: 0, phiStar: nil) == nil)
    #expect(try head.qTable(.multitask, task: 0, step: 0, phiStar: nil) == nil)
    let phiStar = try TruthFile.phiStar(pipeline.truth)
    let oracle = try #require(try head.qTable(.oracle, task: 0, step: 0, phiStar: phiStar))
    let w = try #require(head.oracle?.vectors.first)
    for row in 0..<phiStar.rows {
      var value = 0.0
      for j in 0..<phiStar.columns { value += phiStar[row, j] * w[j] }
      #expect(abs(value - oracle[row]) <= 1e-12 * max(1, abs(value)))
    }
    #expect(try head.qTable(.frozen, task: 0, step: 0, phiStar: nil) == head.frozenQTable(step: 0))
    // mtfqi-fit --q-tables wrote every method through the protocol.
    for (method, suffix) in [(QMethod.frozen, ""), (.scratch, "-scratch"), (.oracle, "-oracle")] {
      let values = try #require(try head.qTables(method, task: 0, phiStar: phiStar))
      let expected = QTableWriter.csvText(
        values, states: ReuseFixtures.states, stateStart: 0, actions: ReuseFixtures.actions,
        actionStart: 0, finiteHorizon: false)
      #expect(
        try String(contentsOfFile: tables + "/new00\(suffix).csv", encoding: .utf8) == expected,
        "\(method)")
    }
  }
}
