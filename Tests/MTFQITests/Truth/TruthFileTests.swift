import Foundation
import Testing

@testable import MTFQI

/// The one truth reader (`TruthFile`): a small hand-made truth file whose every value is known,
/// read through each caller (training's `SyntheticTruth`, `EvaluationTruth`, the coverage
/// stage, the head's phi*), and each validation refusal, seen the same by every caller.
@Suite("Truth files: one reader, one validation")
struct TruthFileTests {
  /// S = 2, A = 2, k = 1, d = 2; tasks a and b in /train. Every field can be spoiled.
  struct Spec {
    var format = "mtfqi.synthetic-truth"
    var states: Int64 = 2
    var actions: Int64 = 2
    var rank: Int64 = 1
    var dim: Int64 = 2
    var mode = "discounted"
    var discount = 0.5
    var horizon: Int64?
    /// P[s, a, s']: rows (0,0) -> s0, (0,1) -> half each, (1,0) -> s1, (1,1) -> 1/4, 3/4.
    var p: [Double]? = [1, 0, 0.5, 0.5, 0, 1, 0.25, 0.75]
    var pShape = [2, 2, 2]
    var phiStar: [Double] = [1, 0.5, 0.25, 0]
    var phiStarShape = [2, 2, 1]
    var thetaShape = [2, 1]
    var taskNames = "[\"a\",\"b\"]"
    var start: [Double] = [0.25, 0.75]
  }

  static let qStar: [Double] = [1, 2, 3, 4, 5, 6, 7, 8]

  static func write(_ spec: Spec, to path: String) throws {
    let file = try HDF5File.create(path)
    let root = try file.root()
    try root.setAttribute("format", spec.format)
    try root.setAttribute("n_states", spec.states)
    try root.setAttribute("n_actions", spec.actions)
    try root.setAttribute("rank", spec.rank)
    try root.setAttribute("dim", spec.dim)
    try root.setAttribute("mode", spec.mode)
    try root.setAttribute("discount", spec.discount)
    if let horizon = spec.horizon { try root.setAttribute("horizon", horizon) }
    let model = try root.createGroup("model")
    if let p = spec.p { try model.writeDataset("P", p, shape: spec.pShape) }
    try model.writeDataset("phi_star", spec.phiStar, shape: spec.phiStarShape)
    try model.writeDataset("x", [1, 0, 0.5, 0, 0.25, 0, 0, 1], shape: [2, 2, 2])
    try model.writeDataset("b_star", [1.0, 0], shape: [2, 1])
    let behavior = try root.createGroup("behavior")
    try behavior.writeDataset("start", spec.start, shape: [spec.start.count])
    let train = try root.createGroup("train")
    try train.setAttribute("task_names", spec.taskNames)
    try train.writeDataset(
      "theta", [Double](repeating: 1, count: spec.thetaShape.reduce(1, *)), shape: spec.thetaShape)
    try train.writeDataset("rewards", [Double](repeating: 0.5, count: 8), shape: [2, 2, 2])
    try train.writeDataset("q_star", qStar, shape: [2, 2, 2])
    try train.writeDataset("v_star", [2, 4, 6, 8], shape: [2, 2])
    try train.writeDataset("mu", [0.25, 0.25, 0.25, 0.25], shape: [2, 2])
    try file.close()
  }

  @Test("A known file: attributes, phi*, rho0, Q* and the objective, the same through every caller")
  func knownFile() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-truth")
    let path = directory.file("truth.h5")
    try Self.write(Spec(), to: path)

    let (states, actions, rank, dim, mode, discount, phiStar, start) = try TruthFile.read(path) {
      truth, _ in
      (
        truth.states, truth.actions, truth.rank, truth.dim, truth.mode, truth.discount,
        try truth.phiStar(), try truth.start()
      )
    }
    #expect(states == 2 && actions == 2 && rank == 1 && dim == 2)
    #expect(mode == "discounted" && discount == 0.5)
    #expect(phiStar.rows == 4 && phiStar.columns == 1 && phiStar.storage == [1, 0.5, 0.25, 0])
    #expect(start == [0.25, 0.75])
    #expect(try TruthFile.phiStar(path).storage == phiStar.storage)

    let training = try SyntheticTruth.read(path)
    #expect(training.qStar["a"] == [1, 2, 3, 4] && training.qStar["b"] == [5, 6, 7, 8])
    #expect(training.phiStarMatrix.storage == phiStar.storage)
    #expect(training.sha256 == (try Executables.sha256sum(path)))

    let evaluation = try EvaluationTruth.read(path)
    #expect(evaluation.trainingTasks == ["a", "b"] && evaluation.heldOutTasks.isEmpty)
    #expect(evaluation.phiStar.storage == phiStar.storage && evaluation.start == start)
    #expect(evaluation.tasks["b"]?.vStar == [6, 8] && evaluation.sha256 == training.sha256)

    let coverage = try CoverageAnalysis.readTruth(path, states: 2, actions: 2)
    #expect(coverage.start == start)
    guard case .discounted(let gamma)? = coverage.objective else {
      Issue.record("expected a discounted objective, found \(String(describing: coverage.objective))")
      return
    }
    #expect(gamma == 0.5)
    // Continuous observations: the objective only.
    #expect(try CoverageAnalysis.readTruth(path, states: nil, actions: 2).start == nil)
  }

  /// A spoiled field and a fragment of the refusal.
  static var refusals: [(String, (inout Spec) -> Void, String)] {
    [
      ("format", { $0.format = "mtfqi.model" }, "not a truth file (root attribute format is 'mtfqi.model'"),
      ("states", { $0.states = 0 }, "n_states"),
      ("rank", { $0.rank = 3 }, "rank"),
      ("discount", { $0.discount = 1.5 }, "discount"),
      ("no P", { $0.p = nil }, "/model/P: missing"),
      ("P shape", { $0.p = [1, 1, 1, 1]; $0.pShape = [2, 2, 1] }, "/model/P"),
      ("P negative", { $0.p = [1.5, -0.5, 0.5, 0.5, 0, 1, 0.25, 0.75] }, "negative probability -0.5"),
      ("P sum", { $0.p = [1, 0.1, 0.5, 0.5, 0, 1, 0.25, 0.75] }, "expected 1 within 1e-9"),
      ("P NaN", { $0.p = [.nan, 0, 0.5, 0.5, 0, 1, 0.25, 0.75] }, "/model/P"),
      ("theta", { $0.thetaShape = [2, 2] }, "/train/theta: expected the shape (tasks, 1)"),
    ]
  }

  @Test("Each validation refusal names the file and the field, for every caller alike")
  func refusals() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-truth-refusals")
    for (name, spoil, fragment) in Self.refusals {
      var spec = Spec()
      spoil(&spec)
      let path = directory.file("truth-\(name.replacingOccurrences(of: " ", with: "-")).h5")
      try Self.write(spec, to: path)
      let messages = [
        Self.message { () throws(FQIError) in _ = try TruthFile.read(path) { _, _ in () } },
        Self.message { () throws(FQIError) in _ = try SyntheticTruth.read(path) },
        Self.message { () throws(FQIError) in _ = try EvaluationTruth.read(path) },
        Self.message { () throws(FQIError) in _ = try TruthFile.phiStar(path) },
        Self.coverageMessage(path, states: 2),
      ]
      for message in messages {
        #expect(
          message?.contains(path) == true && message?.contains(fragment) == true,
          "\(name): \(message ?? "no refusal")")
      }
    }
  }

  @Test("Caller-specific refusals: task names, array sizes, rho0, the store's spaces, a horizon")
  func callerRefusals() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-truth-callers")
    var spec = Spec()
    spec.taskNames = "{\"a\": 1}"
    let names = directory.file("names.h5")
    try Self.write(spec, to: names)
    let namesMessage = Self.message { () throws(FQIError) in _ = try SyntheticTruth.read(names) }
    #expect(namesMessage?.contains("/train attribute task_names is not a JSON array of names") == true)

    spec = Spec()
    spec.phiStar = [1, 0.5, 0.25, 0, 9, 9]
    spec.phiStarShape = [2, 3, 1]
    let sizes = directory.file("sizes.h5")
    try Self.write(spec, to: sizes)
    let sizeMessages = [
      Self.message { () throws(FQIError) in _ = try EvaluationTruth.read(sizes) },
      Self.message { () throws(FQIError) in _ = try TruthFile.phiStar(sizes) },
    ]
    for message in sizeMessages {
      #expect(message?.contains("/model/phi_star holds 6 values, expected 4") == true, "\(message ?? "")")
    }
    let trainingSizes = Self.message { () throws(FQIError) in _ = try SyntheticTruth.read(sizes) }
    #expect(
      trainingSizes?.contains("/model arrays do not match n_states, n_actions, rank, dim") == true)

    spec = Spec()
    spec.start = [0.25, 0.75, 0]
    let start = directory.file("start.h5")
    try Self.write(spec, to: start)
    #expect(
      Self.coverageMessage(start, states: 2)?.contains(
        "\(start): /behavior/start is not a distribution over 2 states") == true)
    let startMessage = Self.message { () throws(FQIError) in _ = try EvaluationTruth.read(start) }
    #expect(startMessage?.contains("/behavior/start holds 3 values, expected 2") == true)

    let spaces = directory.file("spaces.h5")
    try Self.write(Spec(), to: spaces)
    #expect(
      Self.coverageMessage(spaces, states: 3)?.contains(
        "the truth is for 2 states x 2 actions, but the store's spaces are Discrete(3) x Discrete(2)")
        == true)

    spec = Spec()
    spec.mode = "finite_horizon"
    spec.discount = 1
    let horizon = directory.file("horizon.h5")
    try Self.write(spec, to: horizon)
    #expect(
      Self.coverageMessage(horizon, states: 2)?.contains(
        "mode finite_horizon without the attribute horizon") == true)
    spec.horizon = 1
    try Self.write(spec, to: horizon)
    let objective = try CoverageAnalysis.readTruth(horizon, states: 2, actions: 2).objective
    guard case .finiteHorizon(let h, _)? = objective else {
      Issue.record("expected a finite-horizon objective, found \(String(describing: objective))")
      return
    }
    #expect(h == 1)
  }

  /// The refusal's message, nil when `body` did not refuse; any error but `.input` is recorded.
  static func message(_ body: () throws(FQIError) -> Void) -> String? {
    do {
      try body()
      return nil
    } catch {
      guard case .input(let message) = error else {
        Issue.record("expected FQIError.input, found \(error)")
        return nil
      }
      return message
    }
  }

  static func coverageMessage(_ path: String, states: Int) -> String? {
    do {
      _ = try CoverageAnalysis.readTruth(path, states: states, actions: 2)
      return nil
    } catch {
      guard case .input(let message) = error else {
        Issue.record("expected CoverageError.input, found \(error)")
        return nil
      }
      return message
    }
  }
}
