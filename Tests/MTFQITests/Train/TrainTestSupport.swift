import Foundation
import Testing

@testable import MTFQI

/// Synthetic families, stores and helpers for the training tests.
enum TrainFixtures {
  /// A discounted (gamma 0.9), i.i.d.-sampled family with S = 50, A = 4 by default.
  static func parameters(
    tasks: Int, samples: Int, states: Int = 50, actions: Int = 4, rank: Int = 4, dim: Int = 40,
    objective: SyntheticParameters.Objective = .discounted(gamma: 0.9), newTasks: Int = 0,
    seed: UInt64 = 7
  ) -> SyntheticParameters {
    var p = SyntheticParameters()
    p.tasks = tasks
    p.newTasks = newTasks
    p.states = states
    p.actions = actions
    p.rank = rank
    p.dim = dim
    p.objective = objective
    p.samples = samples
    p.newSamples = 20
    p.seed = seed
    return p
  }

  /// The training tasks' logs, drawn in-process exactly as `mtfqi-synth` writes them.
  static func transitions(_ family: LowRankMDPFamily) -> [TaskTransitions] {
    let tables = SyntheticSamplingTables(family: family)
    return family.trainingTasks.map { task in
      let rows = TransitionSampler.sample(
        family: family, tables: tables, task: task, count: family.parameters.samples)
      return TaskTransitions(
        name: task.name,
        observationSpace: .discrete(n: Int64(family.states), start: 0),
        actionSpace: .discrete(n: Int64(family.actions), start: 0),
        observations: rows.map { Double($0.state) },
        nextObservations: rows.map { Double($0.nextState) },
        actions: rows.map { Int64($0.action) }, rewards: rows.map(\.reward),
        terminations: rows.map { $0.terminated ? 1 : 0 }, steps: rows.map { Int64($0.step) })
    }
  }

  /// psi = the family's own feature table x (D = d).
  static func tableMap(_ family: LowRankMDPFamily) -> FeatureMap {
    FeatureMap(
      spec: FeatureMapSpec(kind: .table, table: "(in memory)"),
      observationSpace: .discrete(n: Int64(family.states), start: 0),
      actionSpace: .discrete(n: Int64(family.actions), start: 0), dimension: family.dim,
      structure: .pairs(states: family.states, actions: family.actions), table: family.features)
  }

  /// B* as a d x k column-major matrix.
  static func bStar(_ family: LowRankMDPFamily) -> Matrix {
    Matrix(rows: family.dim, columns: family.rank, rowMajor: family.representation)
  }

  /// RMS over all (s, a) of Q - Q*, averaged over tasks, for per-task thetas (D x T) under
  /// the pair features of `map`.
  static func meanQError(_ thetas: Matrix, map: FeatureMap, family: LowRankMDPFamily) throws
    -> Double
  {
    var total = 0.0
    for (t, task) in family.trainingTasks.enumerated() {
      let q = try #require(try map.qTable(thetas.column(t)))
      total += (Trainer.squaredDistance(q, task.qStar) / Double(q.count)).squareRoot()
    }
    return total / Double(family.trainingTasks.count)
  }

  /// Multitask and single-task FQI in-process on the family's logs with psi = x.
  static func fit(
    _ family: LowRankMDPFamily, iterations: Int, ridge: Double = 1e-6, singleTask: Bool = true
  ) throws -> (multitask: MultitaskFit, singleTask: PerTaskFit?, map: FeatureMap) {
    let tasks = transitions(family)
    let map = tableMap(family)
    let problems = [
      try RegressionData.build(tasks.map { ($0, nil) }, featureMap: map, discount: 0.9)
    ]
    let parameters = FQIParameters(
      objective: .discounted(gamma: 0.9, iterations: iterations), rank: family.rank,
      ridge: ridge)
    let runner = FittedQIteration(parameters: parameters, taskNames: tasks.map(\.name))
    let multitask = try runner.multitask(problems)
    let single = singleTask ? try runner.singleTask(problems) : nil
    return (multitask, single, map)
  }

  /// Writes a family's logs, feature table and truth into `directory` (mtfqi-synth's library
  /// entry point) and ingests the training logs into `directory/store.h5`.
  static func pipeline(_ parameters: SyntheticParameters, in directory: String) throws -> (
    store: String, features: String, truth: String
  ) {
    let summary = try SyntheticGenerator.generate(parameters, into: directory)
    let logs = summary.files.map(\.path).filter {
      $0.hasSuffix(".csv") && $0.contains("/train/")
    }.sorted()
    let store = directory + "/store.h5"
    _ = try Ingester.run(
      Fixtures.options(
        logs, output: store, observationSpace: .discrete(n: Int64(parameters.states), start: 0),
        actionSpace: .discrete(n: Int64(parameters.actions), start: 0)))
    return (store, directory + "/features.h5", directory + "/truth.h5")
  }

  /// The same family with Box observations: state s becomes the point
  /// (cos(2 pi s / S), sin(2 pi s / S), s / S) and the logs are ingested into `store.h5`
  /// with a Box(3) observation space.
  static func boxStore(_ parameters: SyntheticParameters, in directory: String) throws -> String {
    let family = try LowRankMDPFamily(parameters: parameters)
    let tasks = transitions(family)
    let s = Double(parameters.states)
    func point(_ state: Double) -> String {
      "\(cos(2 * .pi * state / s)),\(sin(2 * .pi * state / s)),\(state / s)"
    }
    var inputs: [String] = []
    for task in tasks {
      var text =
        "task,episode,step,obs_0,obs_1,obs_2,action,reward,next_obs_0,next_obs_1,next_obs_2,terminated,truncated\n"
      for i in 0..<task.count {
        text +=
          "\(task.name),\(i),0,\(point(task.observations[i])),\(task.actions[i]),\(task.rewards[i]),\(point(task.nextObservations[i])),\(task.terminations[i]),\(1 - task.terminations[i])\n"
      }
      let path = directory + "/\(task.name).csv"
      try text.write(toFile: path, atomically: true, encoding: .utf8)
      inputs.append(path)
    }
    let store = directory + "/box-store.h5"
    _ = try Ingester.run(
      Fixtures.options(
        inputs, output: store, actionSpace: .discrete(n: Int64(parameters.actions), start: 0)))
    return store
  }

  /// Runs the built mtfqi-train.
  static func train(_ arguments: [String]) throws -> Executables.Run {
    try Executables.run("mtfqi-train", arguments)
  }

  /// Every attribute (as text) and every dataset (as Double values) of an HDF5 file, by path.
  static func contents(_ path: String) throws -> [String: String] {
    let file = try HDF5File.open(path)
    var result: [String: String] = [:]
    func visit(_ group: HDF5Group) throws {
      for name in try group.attributeNames() {
        result[group.path + "@" + name] = try attributeText(group, name)
      }
      for member in try group.memberNames() {
        switch try group.kind(of: member) {
        case .group: try visit(try group.group(member))
        case .dataset:
          let dataset = try group.dataset(member)
          for name in try dataset.attributeNames() {
            result[dataset.path + "@" + name] = try attributeText(dataset, name)
          }
          result[dataset.path] = "\(dataset.shape) \(try Fixtures.values(dataset))"
        case .other: break
        }
      }
    }
    try visit(try file.root())
    return result
  }

  /// An attribute as text: strings as they are, numbers through the widest exact type.
  static func attributeText(_ object: HDF5Object, _ name: String) throws -> String {
    if try object.attributeIsString(name) { return try object.stringAttribute(name) }
    if let values = try? object.numericAttribute(name, as: Double.self) { return "\(values)" }
    if let values = try? object.numericAttribute(name, as: Int64.self) { return "\(values)" }
    return "\(try object.numericAttribute(name, as: UInt64.self))"
  }

  /// Whether `python3 -c "import h5py, numpy"` works (for the reference cross-check); always true
  /// under `make test`, which provides such a Python (a missing one then fails the cross-checks).
  static let pythonAvailable: Bool = {
    if Executables.pythonRequired { return true }
    guard let run = try? Executables.runTool([Executables.python, "-c", "import h5py, numpy"]) else {
      return false
    }
    return run.status == 0
  }()

  /// tools/ in the repository, found from this file's path.
  static let toolsDirectory: String = {
    URL(fileURLWithPath: #filePath)
      .deletingLastPathComponent()  // Train
      .deletingLastPathComponent()  // MTFQITests
      .deletingLastPathComponent()  // Tests
      .deletingLastPathComponent()  // repository
      .appendingPathComponent("tools").path
  }()
}
