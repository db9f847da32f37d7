import Foundation
import Testing

@testable import MTFQI

/// A small synthetic family as files, trained once through the built executables, for the
/// export / fit / evaluate tests: T = 6, n = 600, S = 20, A = 3, k = 2, d = 10, two held-out
/// tasks with 60 transitions each.
enum ReuseFixtures {
  struct Pipeline: Sendable {
    var directory: String
    var store: String
    var newStore: String
    var features: String
    var truth: String
    var model: String
    var representation: String
  }

  static let states = 20
  static let actions = 3

  static let small: Result<Pipeline, any Error> = Result {
    let directory = try Fixtures.sharedDirectory("mtfqi-reuse-tests")
    var parameters = TrainFixtures.parameters(
      tasks: 6, samples: 600, states: states, actions: actions, rank: 2, dim: 10, newTasks: 2,
      seed: 5)
    parameters.newSamples = 60
    let paths = try TrainFixtures.pipeline(parameters, in: directory)
    let newLogs = try FileManager.default.contentsOfDirectory(atPath: directory + "/new")
      .filter { $0.hasSuffix(".csv") }.sorted().map { directory + "/new/" + $0 }
    let newStore = directory + "/new.h5"
    _ = try Ingester.run(
      Fixtures.options(
        newLogs, output: newStore, observationSpace: .discrete(n: Int64(states), start: 0),
        actionSpace: .discrete(n: Int64(actions), start: 0)))
    let model = directory + "/model.h5"
    let train = try TrainFixtures.train([
      paths.store, "-o", model, "--features", "table", "--feature-table", paths.features,
      "--rank", "2", "--iterations", "40", "--truth", paths.truth, "--quiet",
    ])
    guard train.status == 0 else {
      throw CocoaError(.executableLoad, userInfo: ["run": "\(train)"])
    }
    let representation = directory + "/representation.h5"
    let export = try run("mtfqi-export", [model, "--store", newStore, "-o", representation])
    guard export.status == 0 else {
      throw CocoaError(.executableLoad, userInfo: ["run": "\(export)"])
    }
    return Pipeline(
      directory: directory, store: paths.store, newStore: newStore, features: paths.features,
      truth: paths.truth, model: model, representation: representation)
  }

  /// A fresh scratch directory inside the suite's directory.
  static func scratch(_ label: String) throws -> String {
    let path = try small.get().directory + "/\(label)-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  static func run(_ name: String, _ arguments: [String]) throws -> Executables.Run {
    try Executables.run(name, arguments)
  }

  /// A CSV log of `rows` transitions for one task with the given state and action counts.
  static func writeLog(_ path: String, task: String, rows: Int, states: Int, actions: Int) throws {
    var text = "task,episode,step,obs,action,reward,next_obs,terminated,truncated\n"
    for i in 0..<rows {
      text +=
        "\(task),\(i),0,\(i % states),\(i % actions),\(Double(i % 5) / 5),\((i * 7) % states),0,1\n"
    }
    try text.write(toFile: path, atomically: true, encoding: .utf8)
  }
}
