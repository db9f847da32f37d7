import Foundation
import Testing

@testable import MTFQI

/// mtfqi-train against tools/mfqi_reference.py, an independent numpy implementation of the
/// same algorithm, on the same data, settings and feature map. Everything is Float64 on both
/// sides, so Q must agree to 1e-9 relative (to the largest |Q| of the task).
@Suite(
  "Train: agreement with the numpy reference", .serialized,
  .enabled(if: TrainFixtures.pythonAvailable, "needs python3 with h5py and numpy"))
struct ReferenceAgreementTests {
  static let tolerance = 1e-9

  /// Trains with `arguments`, runs the reference, and returns the largest relative difference
  /// over tasks (and steps) of the Q tables (Discrete observations) or of Q at every logged
  /// (s, a) (Box observations).
  static func worstDifference(store: String, arguments: [String], directory: String) throws
    -> Double
  {
    let model = directory + "/model.h5"
    let run = try TrainFixtures.train([store, "-o", model, "--no-single-task"] + arguments)
    #expect(run.status == 0, "\(run)")
    let reference = directory + "/reference.h5"
    let python = try Executables.runTool([
      Executables.python, TrainFixtures.toolsDirectory + "/mfqi_reference.py", "--store", store, "--model",
      model, "--out", reference,
    ])
    #expect(python.status == 0, "\(python)")
    let trained = try TrainedModel.read(model)
    let file = try HDF5File.open(reference)
    var worst = 0.0
    let reader = try StoreReader(path: store)
    for (t, name) in trained.taskNames.enumerated() {
      var mine: [Double] = []
      let theirs: [Double]
      if trained.featureMap.observationSpace.isDiscrete {
        for h in 0..<trained.steps {
          mine += try #require(try trained.featureMap.qTable(try trained.theta(task: t, step: h)))
        }
        theirs = try file.dataset("/q_table/" + name).read(as: Double.self)
      } else {
        let observations = try reader.read(
          task: name, column: StoreLayout.observations, as: Double.self)
        let actions = try reader.read(task: name, column: StoreLayout.actions, as: Int64.self)
        let d = trained.featureMap.observationDimension
        for h in 0..<trained.steps {
          for row in actions.indices {
            mine.append(
              try #require(
                try trained.q(
                  task: t, step: h, observation: Array(observations[(row * d)..<((row + 1) * d)]),
                  action: actions[row])))
          }
        }
        theirs = try file.dataset("/q/" + name).read(as: Double.self)
      }
      #expect(mine.count == theirs.count)
      let scale = theirs.reduce(0) { max($0, $1.magnitude) }
      #expect(scale > 0)
      for (a, b) in zip(mine, theirs) { worst = max(worst, (a - b).magnitude / scale) }
    }
    return worst
  }

  static let discounted: Result<TrainCommandTests.Pipeline, any Error> = Result {
    try TrainCommandTests.small.get()
  }

  @Test(
    "Discounted, one-hot and table features",
    arguments: [["--features", "one-hot"], ["--features", "table"]])
  func discounted(_ features: [String]) throws {
    let pipeline = try Self.discounted.get()
    let directory = try TrainCommandTests.scratch("reference")
    var arguments = features + ["--rank", "2", "--iterations", "15", "--ridge", "1e-4"]
    if features.last == "table" { arguments += ["--feature-table", pipeline.features] }
    let worst = try Self.worstDifference(
      store: pipeline.store, arguments: arguments, directory: directory)
    #expect(worst <= Self.tolerance, "largest relative difference in Q: \(worst)")
  }

  @Test(
    "Discounted, random Fourier and raw features on Box observations",
    arguments: ["fourier", "raw"])
  func boxObservations(_ kind: String) throws {
    let directory = try TrainCommandTests.scratch("reference-box")
    let store = try TrainFixtures.boxStore(
      TrainFixtures.parameters(tasks: 4, samples: 300, states: 20, actions: 3, rank: 2, dim: 10),
      in: directory)
    let worst = try Self.worstDifference(
      store: store,
      arguments: [
        "--features", kind, "--fourier-features", "12", "--bandwidth", "1.5", "--rank", "2",
        "--iterations", "10", "--ridge", "1e-3", "--seed", "4",
      ], directory: directory)
    #expect(worst <= Self.tolerance, "largest relative difference in Q: \(worst)")
  }

  @Test(
    "The ridge on theta (--ridge-form theta): discounted one-hot, and finite horizon with one shared B",
    arguments: [false, true])
  func thetaRidge(_ finiteHorizon: Bool) throws {
    let directory = try TrainCommandTests.scratch("reference-theta")
    let store: String
    var arguments = ["--ridge-form", "theta", "--rank", "2", "--ridge", "3e-2"]
    if finiteHorizon {
      let paths = try TrainFixtures.pipeline(
        TrainFixtures.parameters(
          tasks: 5, samples: 600, states: 12, actions: 3, rank: 2, dim: 8,
          objective: .finiteHorizon(horizon: 3)),
        in: directory)
      store = paths.store
      arguments += [
        "--features", "one-hot", "--mode", "finite-horizon", "--horizon", "3", "--iterations", "20",
      ]
    } else {
      store = try Self.discounted.get().store
      arguments += ["--features", "one-hot", "--iterations", "15"]
    }
    let model = directory + "/model.h5"
    let worst = try Self.worstDifference(store: store, arguments: arguments, directory: directory)
    #expect(worst <= Self.tolerance, "largest relative difference in Q: \(worst)")
    let file = try HDF5File.open(model)
    #expect(try file.root().stringAttribute("ridge_form") == "theta")
    // The summary says where the ridge sat, on stdout and in --json.
    let again = try TrainFixtures.train(
      [store, "-o", directory + "/again.h5", "--no-single-task", "--json"] + arguments)
    let json = try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any]
    #expect(again.status == 0 && json?["ridge_form"] as? String == "theta", "\(again)")
    let text = try TrainFixtures.train(
      [store, "-o", directory + "/text.h5", "--no-single-task"] + arguments)
    #expect(text.stdout.contains("on each task's theta = B w"), "\(text)")
  }

  @Test(
    "Finite horizon: one B per step on per-step rows, and one shared B on pooled rows",
    arguments: [
      ["--step-data", "per-step", "--representation", "per-step", "--features", "table"],
      ["--step-data", "pooled", "--representation", "shared", "--features", "one-hot"],
    ])
  func finiteHorizon(_ arguments: [String]) throws {
    let directory = try TrainCommandTests.scratch("reference-fh")
    let paths = try TrainFixtures.pipeline(
      TrainFixtures.parameters(
        tasks: 5, samples: 600, states: 12, actions: 3, rank: 2, dim: 8,
        objective: .finiteHorizon(horizon: 3)),
      in: directory)
    let worst = try Self.worstDifference(
      store: paths.store,
      arguments: arguments + [
        "--feature-table", paths.features, "--mode", "finite-horizon", "--horizon", "3",
        "--rank", "2", "--ridge", "1e-4", "--iterations", "20",
      ], directory: directory)
    #expect(worst <= Self.tolerance, "largest relative difference in Q: \(worst)")
  }
}
