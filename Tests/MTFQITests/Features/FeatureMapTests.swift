import Foundation
import Numerics
import Testing

@testable import MTFQI

@Suite("Features: base feature maps psi(s, a)")
struct FeatureMapTests {
  let discrete5 = Space.discrete(n: 5, start: 0)
  let actions3 = Space.discrete(n: 3, start: 0)

  @Test("one-hot: psi(s, a) = e_{s * A + a}, D = S * A, starts respected")
  func oneHot() throws {
    let map = try FeatureMap.build(
      spec: FeatureMapSpec(kind: .oneHot), observationSpace: .discrete(n: 5, start: 10),
      actionSpace: .discrete(n: 3, start: 1), trainingObservations: [], seed: 0)
    #expect(map.dimension == 15)
    let psi = try #require(map.features(observation: [12], action: 3))
    #expect(psi.firstIndex(of: 1) == 2 * 3 + 2)
    #expect(psi.reduce(0, +) == 1)
    #expect(map.features(observation: [15], action: 1) == nil)
    #expect(map.features(observation: [10], action: 0) == nil)
    #expect(try map.qTable(Array(0..<15).map(Double.init)) == Array(0..<15).map(Double.init))
  }

  @Test("table: read from a feature-table file, sizes checked against the spaces")
  func table() throws {
    let directory = try Fixtures.TemporaryDirectory("features-table")
    let path = directory.file("features.h5")
    let values = (0..<(5 * 3 * 2)).map { Double($0) / 7 }
    try Self.writeTable(path, values, states: 5, actions: 3, dim: 2)
    let map = try FeatureMap.build(
      spec: FeatureMapSpec(kind: .table, table: path), observationSpace: discrete5,
      actionSpace: actions3, trainingObservations: [], seed: 0)
    #expect(map.dimension == 2)
    #expect(
      map.features(observation: [4], action: 1) == [
        values[(4 * 3 + 1) * 2], values[(4 * 3 + 1) * 2 + 1],
      ])
    #expect(map.tableSHA256 == (try Fixtures.sha256(path)))
    expectError(FeatureError.self, case: "mismatch") {
      try FeatureMap.build(
        spec: FeatureMapSpec(kind: .table, table: path),
        observationSpace: .discrete(n: 6, start: 0),
        actionSpace: actions3, trainingObservations: [], seed: 0)
    }
    do {
      _ = try FeatureMap.build(
        spec: FeatureMapSpec(kind: .table, table: directory.file("missing.h5")),
        observationSpace: discrete5, actionSpace: actions3, trainingObservations: [], seed: 0)
      Issue.record("a missing table must be refused")
    } catch {
      #expect(error.description.contains("missing.h5"))
    }
  }

  @Test("raw: [z; 1] per action block with pooled population statistics")
  func raw() throws {
    let observations: [[Double]] = [[1, 10, 3, 10], [5, 10]]  // d = 2: rows (1,10), (3,10), (5,10)
    let map = try FeatureMap.build(
      spec: FeatureMapSpec(kind: .raw),
      observationSpace: .box(shape: [2], dtype: .float64, low: nil, high: nil),
      actionSpace: .discrete(n: 2, start: 0), trainingObservations: observations, seed: 0)
    #expect(map.dimension == 6)
    let normalization = try #require(map.normalization)
    #expect(normalization.mean == [3, 10])
    #expect(
      normalization.scale[0].isApproximatelyEqual(
        to: (8.0 / 3).squareRoot(), relativeTolerance: 1e-15))
    #expect(normalization.scale[1] == 1)  // constant coordinate: only centred
    let psi = try #require(map.features(observation: [5, 10], action: 1))
    #expect(psi[0...2] == [0, 0, 0])
    #expect(psi[3].isApproximatelyEqual(to: 2 / (8.0 / 3).squareRoot(), relativeTolerance: 1e-15))
    #expect(psi[4] == 0 && psi[5] == 1)
  }

  @Test("fourier: seeded weights, sqrt(2/m) cos(Omega^T z / bandwidth + b), same seed same map")
  func fourier() throws {
    let space = Space.box(shape: [3], dtype: .float64, low: nil, high: nil)
    var spec = FeatureMapSpec(kind: .fourier, fourierFeatures: 8, bandwidth: 2)
    spec.normalize = false
    let a = try FeatureMap.build(
      spec: spec, observationSpace: space, actionSpace: .discrete(n: 2, start: 0),
      trainingObservations: [[0, 0, 0]], seed: 5)
    let b = try FeatureMap.build(
      spec: spec, observationSpace: space, actionSpace: .discrete(n: 2, start: 0),
      trainingObservations: [[0, 0, 0]], seed: 5)
    let c = try FeatureMap.build(
      spec: spec, observationSpace: space, actionSpace: .discrete(n: 2, start: 0),
      trainingObservations: [[0, 0, 0]], seed: 6)
    #expect(a.dimension == 16)
    #expect(a.fourierWeights == b.fourierWeights && a.fourierOffsets == b.fourierOffsets)
    #expect(a.fourierWeights != c.fourierWeights)
    let x = [0.3, -1.2, 2.0]
    let psi = try #require(a.features(observation: x, action: 0))
    let weights = try #require(a.fourierWeights)
    let offsets = try #require(a.fourierOffsets)
    for j in 0..<8 {
      var u = 0.0
      for i in 0..<3 { u += x[i] * weights[i * 8 + j] }
      let expected = (2.0 / 8).squareRoot() * cos(u / 2 + offsets[j])
      #expect(
        psi[j].isApproximatelyEqual(to: expected, relativeTolerance: 1e-14, norm: \.magnitude))
      #expect(psi[8 + j] == 0)
    }
    // The kernel approximation: psi(x)^T psi(y) ~ exp(-|x - y|^2 / (2 bw^2)) for large m.
    #expect(offsets.allSatisfy { $0 >= 0 && $0 < 2 * .pi })
  }

  @Test("The map round-trips through model.h5's /features group bit for bit")
  func roundTrip() throws {
    let directory = try Fixtures.TemporaryDirectory("features-roundtrip")
    let space = Space.box(shape: [2], dtype: .float32, low: [-1, -1], high: [1, 1])
    let map = try FeatureMap.build(
      spec: FeatureMapSpec(kind: .fourier, fourierFeatures: 4, bandwidth: 0.5),
      observationSpace: space, actionSpace: .discrete(n: 3, start: 2),
      trainingObservations: [[0.1, 0.2, -0.3, 0.5, 0.9, -0.1]], seed: 9)
    let path = directory.file("model.h5")
    try Self.writeMap(map, to: path)
    let file = try HDF5File.open(path)
    let read = try FeatureMap.read(from: try file.group("/features"))
    #expect(read.spec == map.spec)
    #expect(read.dimension == map.dimension && read.structure == map.structure)
    #expect(read.fourierWeights == map.fourierWeights && read.fourierOffsets == map.fourierOffsets)
    #expect(read.normalization == map.normalization)
    #expect(read.actionSpace == map.actionSpace)
    let x = [0.25, -0.75]
    #expect(read.features(observation: x, action: 3) == map.features(observation: x, action: 3))
  }

  @Test("Spaces that do not suit the kind are refused with the reason")
  func refusals() throws {
    let box = Space.box(shape: [2], dtype: .float64, low: nil, high: nil)
    expectError(FeatureError.self, case: "mismatch") {
      try FeatureMap.build(
        spec: FeatureMapSpec(kind: .oneHot), observationSpace: box, actionSpace: actions3,
        trainingObservations: [], seed: 0)
    }
    do {
      _ = try FeatureMap.build(
        spec: FeatureMapSpec(kind: .raw), observationSpace: box, actionSpace: box,
        trainingObservations: [], seed: 0)
      Issue.record("a Box action space must be refused")
    } catch {
      #expect(error.description.contains("not Discrete"))
    }
    expectError(FeatureError.self, case: "invalidSpec") {
      try FeatureMapSpec(kind: .fourier, fourierFeatures: 0).validate()
    }
    expectError(FeatureError.self, case: "invalidSpec") { try FeatureMapSpec(kind: .table).validate() }
  }

  static func writeTable(_ path: String, _ values: [Double], states: Int, actions: Int, dim: Int)
    throws
  {
    let file = try HDF5File.create(path)
    let root = try file.root()
    try root.setAttribute("format", "mtfqi.feature-table")
    try root.setAttribute("format_version", Int64(1))
    let dataset = try root.writeDataset("features", values, shape: [states, actions, dim])
    try dataset.setAttribute("kind", "table")
    try dataset.setAttribute("n_states", Int64(states))
    try dataset.setAttribute("n_actions", Int64(actions))
    try dataset.setAttribute("dim", Int64(dim))
  }

  /// Writes /features; every handle is released (and the file closed) on return.
  static func writeMap(_ map: FeatureMap, to path: String) throws {
    let file = try HDF5File.create(path)
    try map.write(to: try file.root().createGroup("features"))
  }
}
