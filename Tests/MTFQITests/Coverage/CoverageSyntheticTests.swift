import Foundation
import Numerics
import Testing

@testable import MTFQI

/// The synthetic family with behaviour epsilon in {1, 0.5, 0.2, 0.05} (same seed otherwise):
/// generated in-process, written as logs, ingested, analysed, and compared with exact values
/// computed here from truth.h5 (P, rho0, mu, x) by a different route (a dense linear solve for
/// the occupancy, power iteration on (Sigma_mu + r I)^-1 Sigma_pi for kappa).
@Suite("Coverage on the synthetic family", .serialized)
struct CoverageSyntheticTests {
  /// S = 6, A = 3, k = 2, d = 5, two tasks of 40,000 i.i.d. rows: the rarest pair has
  /// mu = (1/6)(0.05/3) = 1/360, about 110 expected rows per task and 220 pooled.
  static func parameters(epsilon: Double) -> SyntheticParameters {
    var p = SyntheticParameters()
    p.tasks = 2
    p.newTasks = 0
    p.states = 6
    p.actions = 3
    p.rank = 2
    p.dim = 5
    p.objective = .discounted(gamma: 0.9)
    p.samples = 40_000
    p.epsilon = epsilon
    p.sampling = .iid
    p.seed = 7
    return p
  }

  /// Relative tolerance of the pooled estimates against the exact values: 220 expected rows in
  /// the rarest pair give a relative standard error of about 7% for that pair's mu, and the
  /// maximum over 18 pairs is biased upwards; measured errors were below 4% (pooled) and 7%
  /// (per task) with 60,000 rows per task.
  static let pooledTolerance = 0.10
  /// Per task (110 expected rows in the rarest pair).
  static let taskTolerance = 0.20

  struct Exact {
    var concentrability: Double
    var kappa: Double
  }

  /// Exact C_pi (uniform target, discounted, start rho0) and kappa in the feature table x.
  static func exact(truth path: String, ridgeRelative: Double) throws -> Exact {
    let file = try HDF5File.open(path)
    let root = try file.root()
    let s = Int(try root.scalarAttribute("n_states", as: Int64.self))
    let a = Int(try root.scalarAttribute("n_actions", as: Int64.self))
    let d = Int(try root.scalarAttribute("dim", as: Int64.self))
    let gamma = try root.scalarAttribute("gamma", as: Double.self)
    let p = try file.dataset("/model/P").read(as: Double.self)  // (S, A, S)
    let rho = try file.dataset("/behavior/start").read(as: Double.self)
    let mu = try file.dataset("/train/mu").read(as: Double.self)  // (S, A)
    let x = try file.dataset("/model/x").read(as: Double.self)  // (S, A, d)

    // Occupancy: (I - gamma M^T) d_s = (1 - gamma) rho, M(s, s') = (1/A) sum_a P(s'|s, a).
    var system = Matrix.identity(s)
    for from in 0..<s {
      for to in 0..<s {
        var m = 0.0
        for action in 0..<a { m += p[(from * a + action) * s + to] / Double(a) }
        system[to, from] -= gamma * m
      }
    }
    let occupancy = try LinearAlgebra.solve(
      system, Matrix(rows: s, columns: 1, columnMajor: rho.map { (1 - gamma) * $0 }))
    var concentrability = 0.0
    for state in 0..<s {
      for action in 0..<a {
        concentrability = max(
          concentrability, occupancy[state, 0] / Double(a) / mu[state * a + action])
      }
    }

    // kappa: Sigma_mu = sum mu x x^T; Sigma_pi = sum_s' q(s') (1/A) sum_a x x^T with q the
    // next-state distribution of the data (every row bootstraps).
    var q = [Double](repeating: 0, count: s)
    for pair in 0..<(s * a) {
      for next in 0..<s { q[next] += mu[pair] * p[pair * s + next] }
    }
    var sigmaMu = Matrix(rows: d, columns: d)
    var sigmaPi = Matrix(rows: d, columns: d)
    for state in 0..<s {
      for action in 0..<a {
        let pair = state * a + action
        for i in 0..<d {
          for j in 0..<d {
            let product = x[pair * d + i] * x[pair * d + j]
            sigmaMu[i, j] += mu[pair] * product
            sigmaPi[i, j] += q[state] / Double(a) * product
          }
        }
      }
    }
    var trace = 0.0
    for i in 0..<d { trace += sigmaMu[i, i] }
    for i in 0..<d { sigmaMu[i, i] += ridgeRelative * trace / Double(d) }
    // Power iteration on (Sigma_mu + r I)^-1 Sigma_pi (similar to a PSD matrix: real, >= 0).
    var v = Matrix(rows: d, columns: 1, repeating: 1)
    var kappa = 0.0
    for _ in 0..<500 {
      let next = try LinearAlgebra.solve(sigmaMu, try LinearAlgebra.gemm(sigmaPi, v))
      let norm = next.frobeniusNorm
      kappa = norm / v.frobeniusNorm
      v = Matrix(rows: d, columns: 1, columnMajor: next.storage.map { $0 / norm })
    }
    return Exact(concentrability: concentrability, kappa: kappa)
  }

  @Test func concentrabilityAndKappaGrowAsEpsilonFalls() throws {
    var estimates: [(epsilon: Double, pooled: Exact, exact: Exact)] = []
    for epsilon in [1.0, 0.5, 0.2, 0.05] {
      let directory = try Fixtures.TemporaryDirectory("coverage-synth")
      _ = try SyntheticGenerator.generate(Self.parameters(epsilon: epsilon), into: directory.path)
      let logs = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/train")
        .sorted().map { directory.path + "/train/" + $0 }
      let store = directory.file("store.h5")
      _ = try Ingester.run(
        Fixtures.options(
          logs, output: store, observationSpace: .discrete(n: 6, start: 0),
          actionSpace: .discrete(n: 3, start: 0)))
      var options = CoverageOptions(store: store)
      options.truth = directory.file("truth.h5")
      options.features = FeatureMapSpec(kind: .table, table: directory.file("features.h5"))
      let report = try CoverageFixtures.analyse(options)
      let exact = try Self.exact(
        truth: directory.file("truth.h5"), ridgeRelative: options.ridgeRelative)
      #expect(report.objective.source == "truth" && report.objective.gamma == 0.9)
      let pooled = try #require(report.pooled.tabular?.occupancy.concentrability)
      let kappa = report.pooled.baseFeatures.kappa
      #expect(
        approx(pooled, exact.concentrability, Self.pooledTolerance),
        "epsilon \(epsilon): pooled C \(pooled), exact \(exact.concentrability)")
      #expect(
        approx(kappa, exact.kappa, Self.pooledTolerance),
        "epsilon \(epsilon): pooled kappa \(kappa), exact \(exact.kappa)")
      for task in report.tasks {
        let c = try #require(task.tabular?.occupancy.concentrability)
        #expect(
          approx(c, exact.concentrability, Self.taskTolerance),
          "epsilon \(epsilon), \(task.name): C \(c), exact \(exact.concentrability)")
        #expect(
          approx(task.baseFeatures.kappa, exact.kappa, Self.taskTolerance),
          "epsilon \(epsilon), \(task.name): kappa \(task.baseFeatures.kappa), exact \(exact.kappa)"
        )
        #expect(task.tabular?.unseenPairs == 0)
      }
      estimates.append((epsilon, Exact(concentrability: pooled, kappa: kappa), exact))
    }
    for (wider, narrower) in zip(estimates, estimates.dropFirst()) {
      #expect(
        narrower.pooled.concentrability > wider.pooled.concentrability,
        "C at epsilon \(narrower.epsilon) (\(narrower.pooled.concentrability)) vs \(wider.epsilon) (\(wider.pooled.concentrability))"
      )
      #expect(
        narrower.pooled.kappa > wider.pooled.kappa,
        "kappa at epsilon \(narrower.epsilon) (\(narrower.pooled.kappa)) vs \(wider.epsilon) (\(wider.pooled.kappa))"
      )
      #expect(narrower.exact.concentrability > wider.exact.concentrability)
      #expect(narrower.exact.kappa > wider.exact.kappa)
    }
  }
}
