import Foundation
import Numerics
import Testing

@testable import MTFQI

/// Tiny hand-built stores and helpers for the coverage tests.
enum CoverageFixtures {
  /// One logged row of a Discrete-observation CSV.
  struct Row {
    var task = "t0"
    var episode: Int
    var step: Int
    var state: Int
    var action: Int
    var next: Int
    var terminated = false
    var behaviorProbability: Double?
  }

  /// Writes the rows as CSV and ingests them with Discrete(S) x Discrete(A) spaces.
  static func store(
    _ rows: [Row], states: Int, actions: Int, in directory: Fixtures.TemporaryDirectory,
    name: String = "store"
  ) throws -> String {
    let withBehavior = rows.contains { $0.behaviorProbability != nil }
    var text = "task,episode,step,obs,action,reward,next_obs,terminated,truncated"
    text += withBehavior ? ",behavior_prob\n" : "\n"
    for row in rows {
      text +=
        "\(row.task),\(row.episode),\(row.step),\(row.state),\(row.action),0.5,\(row.next),\(row.terminated ? 1 : 0),\(row.terminated ? 0 : 1)"
      if withBehavior { text += ",\(row.behaviorProbability ?? 1)" }
      text += "\n"
    }
    let csv = directory.file(name + ".csv")
    try text.write(toFile: csv, atomically: true, encoding: .utf8)
    let output = directory.file(name + ".h5")
    _ = try Ingester.run(
      Fixtures.options(
        [csv], output: output, observationSpace: .discrete(n: Int64(states), start: 0),
        actionSpace: .discrete(n: Int64(actions), start: 0)))
    return output
  }

  /// Store B of the known-answer tests: S = 2, A = 2, one episode of six steps visiting every
  /// pair, N = [[2, 1], [1, 2]], mu = [1/3, 1/6, 1/6, 1/3], next states [1, 0, 1, 1, 0, 0].
  static let coveredRows: [Row] = [
    Row(episode: 0, step: 0, state: 0, action: 0, next: 1),
    Row(episode: 0, step: 1, state: 1, action: 0, next: 0),
    Row(episode: 0, step: 2, state: 0, action: 1, next: 1),
    Row(episode: 0, step: 3, state: 1, action: 1, next: 1),
    Row(episode: 0, step: 4, state: 1, action: 1, next: 0),
    Row(episode: 0, step: 5, state: 0, action: 0, next: 0),
  ]

  /// Runs the analysis and records the error as an issue when it fails.
  static func analyse(_ options: CoverageOptions, sourceLocation: SourceLocation = #_sourceLocation)
    throws -> CoverageReport
  {
    do {
      return try CoverageAnalysis.run(options)
    } catch {
      Issue.record("coverage failed: \(error)", sourceLocation: sourceLocation)
      throw error
    }
  }

  /// Writes a feature-table file (schemas/feature-table.md) for S x A x d values (row-major).
  static func featureTable(_ values: [Double], states: Int, actions: Int, dim: Int, path: String)
    throws
  {
    let file = try HDF5File.create(path)
    let root = try file.root()
    try root.setAttribute("format", "mtfqi.feature-table")
    try root.setAttribute("format_version", Int64(1))
    try root.writeDataset("features", values, shape: [states, actions, dim])
    let dataset = try file.dataset("/features")
    try dataset.setAttribute("kind", "table")
    try dataset.setAttribute("n_states", Int64(states))
    try dataset.setAttribute("n_actions", Int64(actions))
    try dataset.setAttribute("dim", Int64(dim))
    try file.close()
  }
}

/// Relative closeness for the tests (swift-numerics' approximate equality, with "inf" equal to
/// itself).
func approx(_ a: Double, _ b: Double, _ tolerance: Double = 1e-12) -> Bool {
  if a.isInfinite || b.isInfinite { return a == b }
  return a.isApproximatelyEqual(to: b, relativeTolerance: tolerance)
}
