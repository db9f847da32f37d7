import Foundation
import Numerics
import Testing

@testable import MTFQI

/// Known answers on tiny hand-built stores: every expected number below is worked out by hand
/// (closed forms for 2 x 2 problems), not by the code under test.
@Suite("Coverage known answers")
struct CoverageKnownAnswerTests {
  typealias Row = CoverageFixtures.Row

  /// Store B (see `CoverageFixtures.coveredRows`), uniform target, gamma = 0.5.
  ///
  /// P-hat under the uniform policy is M = [[1/4, 3/4], [3/4, 1/4]]; the only step-0 row is in
  /// state 0, so rho = [1, 0] and rho M^t = 1/2 [1, 1] + 1/2 (-1/2)^t [1, -1], giving
  /// d(s0) = 1/2 + 1/2 (1 - gamma) / (1 + gamma / 2) = 0.7 and d(s, a) = [.35, .35, .15, .15].
  @Test func coveredStoreDiscounted() throws {
    let directory = try Fixtures.TemporaryDirectory("coverage-b")
    let store = try CoverageFixtures.store(
      CoverageFixtures.coveredRows, states: 2, actions: 2, in: directory)
    var options = CoverageOptions(store: store)
    options.gamma = 0.5
    let report = try CoverageFixtures.analyse(options)
    let task = try #require(report.tasks.first)
    let tabular = try #require(task.tabular)

    #expect(tabular.counts == [[2, 1], [1, 2]])
    #expect(tabular.unseenPairs == 0 && tabular.unseenShare == 0)
    #expect(tabular.minCount == 1 && tabular.minCountReachable == 1 && tabular.reachableStates == 2)
    #expect(approx(tabular.dataBound, 6))
    #expect(task.startDistribution == "episode_starts" && task.episodeStarts == 1)

    let mu = [1.0 / 3, 1.0 / 6, 1.0 / 6, 1.0 / 3]
    let d = [0.35, 0.35, 0.15, 0.15]
    #expect(approx(tabular.occupancy.concentrability, 2.1, 1e-12))
    #expect(tabular.occupancy.argmaxState == 0 && tabular.occupancy.argmaxAction == 1)
    let chi = zip(d, mu).reduce(0) { $0 + $1.0 * $1.0 / $1.1 }.squareRoot()
    #expect(approx(tabular.occupancy.chiSquare, chi, 1e-12))
    #expect(approx(tabular.occupancy.mass, 1, 1e-13))
    #expect(tabular.occupancy.unsupportedMass == 0)

    // One-hot: Sigma_mu = diag(mu), Sigma_pi = diag(1/4) (next states [1,0,1,1,0,0]).
    let f = task.baseFeatures
    let ridge = 1e-6 * 1.0 / 4
    #expect(approx(f.ridge, ridge))
    #expect(approx(f.lambdaMin, 1.0 / 6) && approx(f.lambdaMax, 1.0 / 3))
    #expect(approx(f.conditionNumber, 2) && f.rank == 4)
    let entropy = -mu.reduce(0) { $0 + $1 * log($1) }
    #expect(approx(f.effectiveRank, exp(entropy)))
    #expect(approx(f.kappa, 0.25 / (1.0 / 6 + ridge)))
    #expect(approx(f.restrictedChiSquare, mu.reduce(0) { $0 + 0.0625 / ($1 + ridge) }))
    #expect(approx(f.effectiveDimension, mu.reduce(0) { $0 + $1 / ($1 + ridge) }))
    #expect(f.targetOutsideDataSpan == 0)
    #expect(task.unsupportedBootstrap.rule == "unseen_pair" && task.unsupportedBootstrap.rate == 0)

    // beta(a|s) from counts: [[2/3, 1/3], [1/3, 2/3]]; w = 1/2 / beta = .75 (4 rows), 1.5 (2).
    let weights = try #require(task.importanceWeights)
    #expect(weights.behavior == "counts" && weights.rows == 6)
    #expect(approx(weights.ess, 36 / 6.75) && approx(weights.essFraction, 36 / 6.75 / 6))
    #expect(approx(weights.maxWeight, 1.5) && approx(weights.meanWeight, 1))

    // One task: pooled = the task.
    #expect(report.pooled.tabular?.counts == tabular.counts)
    #expect(approx(report.pooled.baseFeatures.kappa, f.kappa))
    #expect(report.gates.passed && report.warnings.isEmpty)
  }

  /// The same store with H = 2: d_0 = [.5, .5, 0, 0], d_1 = rho M pi = [.125, .125, .375, .375].
  @Test func coveredStoreFiniteHorizon() throws {
    let directory = try Fixtures.TemporaryDirectory("coverage-b-h")
    let store = try CoverageFixtures.store(
      CoverageFixtures.coveredRows, states: 2, actions: 2, in: directory)
    var options = CoverageOptions(store: store)
    options.horizon = 2
    let report = try CoverageFixtures.analyse(options)
    let occupancy = try #require(report.tasks.first?.tabular?.occupancy)
    let steps = try #require(occupancy.perStep)
    #expect(steps.count == 2)
    #expect(approx(steps[0].concentrability, 3) && approx(steps[1].concentrability, 2.25))
    #expect(approx(steps[0].chiSquare, 1.5))
    let chi1 = (0.015625 * 3 + 0.015625 * 6 + 0.140625 * 6 + 0.140625 * 3).squareRoot()
    #expect(approx(steps[1].chiSquare, chi1))
    #expect(approx(occupancy.concentrability, 3) && occupancy.argmaxStep == 0)
    #expect(occupancy.argmaxState == 0 && occupancy.argmaxAction == 1)
    // Step rows: one row at step 0 (pair (0,0)), one at step 1 (pair (1,0)).
    #expect(steps[0].stepRows == 1 && steps[0].concentrabilityStepRows == .infinity)
    #expect(steps[1].concentrabilityStepRows == .infinity)
    #expect(report.objective.mode == "finite_horizon" && report.objective.stepData == "pooled")

    options.stepData = .perStep
    let perStep = try CoverageFixtures.analyse(options)
    #expect(perStep.tasks.first?.tabular?.occupancy.concentrability == .infinity)
  }

  /// Store A: pair (1, 1) is never seen but state 1 is reachable.
  @Test func unseenPairMakesConcentrabilityInfinite() throws {
    let directory = try Fixtures.TemporaryDirectory("coverage-a")
    let rows = [
      Row(episode: 0, step: 0, state: 0, action: 0, next: 1),
      Row(episode: 1, step: 0, state: 0, action: 1, next: 0),
      Row(episode: 2, step: 0, state: 0, action: 0, next: 1),
      Row(episode: 3, step: 0, state: 1, action: 0, next: 0),
    ]
    let store = try CoverageFixtures.store(rows, states: 2, actions: 2, in: directory)
    var options = CoverageOptions(store: store)
    options.gamma = 0.9
    let report = try CoverageFixtures.analyse(options)
    let task = try #require(report.tasks.first)
    let tabular = try #require(task.tabular)
    #expect(tabular.counts == [[2, 1], [1, 0]])
    #expect(tabular.unseenPairs == 1 && approx(tabular.unseenShare, 0.25))
    #expect(tabular.minCount == 0 && tabular.unseenReachablePairs == 1)
    #expect(tabular.dataBound == .infinity)
    #expect(
      tabular.occupancy.concentrability == .infinity && tabular.occupancy.chiSquare == .infinity)
    #expect(tabular.occupancy.unsupportedPairs == 1 && tabular.occupancy.unsupportedMass > 0)
    #expect(tabular.occupancy.argmaxState == 1 && tabular.occupancy.argmaxAction == 1)
    // Next states [1, 0, 1, 0]: half of them are s1, whose action 1 (weight 1/2) is unseen.
    #expect(approx(task.unsupportedBootstrap.rate, 0.25))
    let f = task.baseFeatures
    #expect(f.lambdaMin == 0 && f.conditionNumber == .infinity && f.rank == 3)
    #expect(approx(f.targetOutsideDataSpan, 0.25))
    #expect(approx(f.kappa, 0.25 / (1e-6 / 4)))
    // beta: state 0 [2/3, 1/3], state 1 [1, -]; w = [.75, 1.5, .75, .5].
    let weights = try #require(task.importanceWeights)
    #expect(approx(weights.ess, 3.5 * 3.5 / 3.625))
    #expect(report.warnings.contains { $0.contains("never seen") })
    #expect(report.warnings.contains { $0.contains("outside the span") })
  }

  /// A dense feature table on store B: x(0,0) = [1, 0], x(0,1) = [0, 1], x(1,0) = [1, 1],
  /// x(1,1) = [1, -1]. Sigma_mu = [[5/6, -1/6], [-1/6, 2/3]], Sigma_pi = 3/4 I,
  /// nu_pi = [3/4, 1/4].
  @Test func featureTableKnownAnswer() throws {
    let directory = try Fixtures.TemporaryDirectory("coverage-table")
    let store = try CoverageFixtures.store(
      CoverageFixtures.coveredRows, states: 2, actions: 2, in: directory)
    let table = directory.file("features.h5")
    try CoverageFixtures.featureTable(
      [1, 0, 0, 1, 1, 1, 1, -1], states: 2, actions: 2, dim: 2, path: table)
    var options = CoverageOptions(store: store)
    options.features = try CoverageOptions.parseFeatures("table:" + table)
    options.gamma = 0.5
    let report = try CoverageFixtures.analyse(options)
    let f = try #require(report.tasks.first?.baseFeatures)
    let ridge = 1e-6 * (5.0 / 6 + 2.0 / 3) / 2
    let lambdaMin = 0.75 - 5.0.squareRoot() / 12
    let lambdaMax = 0.75 + 5.0.squareRoot() / 12
    #expect(f.dimension == 2 && report.features.kind == "table")
    #expect(approx(f.lambdaMin, lambdaMin, 1e-12) && approx(f.lambdaMax, lambdaMax, 1e-12))
    #expect(approx(f.conditionNumber, lambdaMax / lambdaMin, 1e-12))
    #expect(approx(f.kappa, 0.75 / (lambdaMin + ridge), 1e-12))
    let a00 = 5.0 / 6 + ridge
    let a11 = 2.0 / 3 + ridge
    let determinant = a00 * a11 - 1.0 / 36
    // nu^T A^-1 nu with A^-1 = [[a11, 1/6], [1/6, a00]] / det.
    let nu = [0.75, 0.25]
    let chi = (a11 * nu[0] * nu[0] + 2.0 / 6 * nu[0] * nu[1] + a00 * nu[1] * nu[1]) / determinant
    #expect(approx(f.restrictedChiSquare, chi, 1e-12))
  }

  /// Box(1) observations with raw features (no normalisation), A = 2: psi(x, a) = e_a (x) [x, 1].
  /// Rows (x, a, x', terminated, b): (0,0,1), (1,0,2), (2,1,0), (1,1,50), (3,0,-,terminated).
  @Test func blockFeaturesAndMahalanobisKnownAnswer() throws {
    let directory = try Fixtures.TemporaryDirectory("coverage-box")
    let rows: [(x: Double, a: Int, next: Double, terminated: Bool, b: Double)] = [
      (0, 0, 1, false, 0.5), (1, 0, 2, false, 0.5), (2, 1, 0, false, 0.25), (1, 1, 50, false, 0.75),
      (3, 0, 0, true, 0.5),
    ]
    var text = "episode,step,obs_0,action,reward,next_obs_0,terminated,truncated,behavior_prob\n"
    for (i, row) in rows.enumerated() {
      text +=
        "\(i),0,\(row.x),\(row.a),0,\(row.next),\(row.terminated ? 1 : 0),\(row.terminated ? 0 : 1),\(row.b)\n"
    }
    let csv = directory.file("box.csv")
    try text.write(toFile: csv, atomically: true, encoding: .utf8)
    let store = directory.file("box.h5")
    _ = try Ingester.run(
      Fixtures.options(
        [csv], output: store, task: "box",
        observationSpace: .box(shape: [1], dtype: .float64, low: nil, high: nil),
        actionSpace: .discrete(n: 2, start: 0)))
    var options = CoverageOptions(store: store)
    options.features = try CoverageOptions.parseFeatures("raw:no-normalize")
    let report = try CoverageFixtures.analyse(options)
    let task = try #require(report.tasks.first)
    #expect(task.tabular == nil && report.timing.passes == 2)

    // Sigma_mu blocks: (1/5) [[10, 4], [4, 3]] and (1/5) [[5, 3], [3, 2]]; trace 4, ridge 1e-6.
    // Sigma_pi blocks: S / 8 with S = sum over x' in [1, 2, 0, 50] of [[x'^2, x'], [x', 1]].
    let ridge = 1e-6
    // Each 2 x 2 block as [a11, a12, a22].
    let mu: [[Double]] = [[10.0 / 5, 4.0 / 5, 3.0 / 5], [5.0 / 5, 3.0 / 5, 2.0 / 5]]
    let pi = [2505.0 / 8, 53.0 / 8, 4.0 / 8]
    let nu = [53.0 / 8, 4.0 / 8]
    func eigenvalues(_ m: [Double]) -> (Double, Double) {
      let mean = (m[0] + m[2]) / 2
      let radius = (((m[0] - m[2]) / 2) * ((m[0] - m[2]) / 2) + m[1] * m[1]).squareRoot()
      return (mean - radius, mean + radius)
    }
    var kappa = 0.0
    var chi = 0.0
    var allEigenvalues: [Double] = []
    var inverses: [[Double]] = []
    for m in mu {
      let (low, high) = eigenvalues(m)
      allEigenvalues += [low, high]
      let a = [m[0] + ridge, m[1], m[2] + ridge]
      let det = a[0] * a[2] - a[1] * a[1]
      // Generalised eigenvalues of (Sigma_pi, A): lambda^2 det A - lambda c + det Sigma_pi = 0.
      let c = a[0] * pi[2] + a[2] * pi[0] - 2 * a[1] * pi[1]
      let detPi = pi[0] * pi[2] - pi[1] * pi[1]
      kappa = max(kappa, (c + (c * c - 4 * det * detPi).squareRoot()) / (2 * det))
      let inverse = [a[2] / det, -a[1] / det, a[0] / det]
      inverses.append(inverse)
      chi +=
        inverse[0] * nu[0] * nu[0] + 2 * inverse[1] * nu[0] * nu[1] + inverse[2] * nu[1] * nu[1]
    }
    let f = task.baseFeatures
    #expect(f.dimension == 4)
    #expect(approx(f.lambdaMin, allEigenvalues.min() ?? 0, 1e-10))
    #expect(approx(f.lambdaMax, allEigenvalues.max() ?? 0, 1e-10))
    #expect(approx(f.kappa, kappa, 1e-9))
    #expect(approx(f.restrictedChiSquare, chi, 1e-9))

    // Mahalanobis: threshold 3 d_eff; next x' = 0 is unsupported for action 1, x' = 50 for both.
    let effectiveDimension = allEigenvalues.reduce(0) { $0 + $1 / ($1 + ridge) }
    let threshold = 3 * effectiveDimension
    func norm(_ x: Double, _ a: Int) -> Double {
      let inverse = inverses[a]
      return inverse[0] * x * x + 2 * inverse[1] * x + inverse[2]
    }
    var unsupported = 0.0
    for x in [1.0, 2, 0, 50] {
      for a in 0..<2 where norm(x, a) > threshold { unsupported += 0.5 }
    }
    #expect(unsupported == 1.5)
    let bootstrap = task.unsupportedBootstrap
    #expect(bootstrap.rule == "mahalanobis")
    #expect(approx(bootstrap.threshold ?? 0, threshold, 1e-9))
    #expect(approx(bootstrap.rate, unsupported / 4))
    #expect(bootstrap.dataRate == 0)

    // Importance weights from behavior_probs: w = 0.5 / b = [1, 1, 2, 2/3, 1].
    let w = [1.0, 1, 2, 2.0 / 3, 1]
    let sum = w.reduce(0, +)
    let squares = w.reduce(0) { $0 + $1 * $1 }
    let weights = try #require(task.importanceWeights)
    #expect(weights.behavior == "behavior_probs")
    #expect(approx(weights.ess, sum * sum / squares) && approx(weights.maxWeight, 2))
    #expect(bootstrap.testedRows == 4 && bootstrap.dataTestedRows == 5)

    // A sample of 2: every 2nd next state (x' = 1, 0: weight 1/2 unsupported) and every 3rd
    // row (rows 0 and 3).
    options.bootstrapSample = 2
    let sampled = try #require(try CoverageFixtures.analyse(options).tasks.first?.unsupportedBootstrap)
    #expect(sampled.testedRows == 2 && sampled.dataTestedRows == 2)
    #expect(approx(sampled.rate, 0.25))

    // The same rows twice, as two tasks: the pooled moments and Mahalanobis test equal the
    // task's.
    var twice = "task,episode,step,obs_0,action,reward,next_obs_0,terminated,truncated\n"
    for name in ["box", "copy"] {
      for (i, row) in rows.enumerated() {
        twice +=
          "\(name),\(i),0,\(row.x),\(row.a),0,\(row.next),\(row.terminated ? 1 : 0),\(row.terminated ? 0 : 1)\n"
      }
    }
    let twiceCSV = directory.file("twice.csv")
    try twice.write(toFile: twiceCSV, atomically: true, encoding: .utf8)
    let twiceStore = directory.file("twice.h5")
    _ = try Ingester.run(
      Fixtures.options(
        [twiceCSV], output: twiceStore,
        observationSpace: .box(shape: [1], dtype: .float64, low: nil, high: nil),
        actionSpace: .discrete(n: 2, start: 0)))
    options.store = twiceStore
    options.bootstrapSample = 0
    let pooledReport = try CoverageFixtures.analyse(options)
    let pooled = pooledReport.pooled
    #expect(pooledReport.tasks.count == 2 && pooled.transitions == 10)
    #expect(approx(pooled.baseFeatures.kappa, kappa, 1e-9))
    #expect(approx(pooled.unsupportedBootstrap.rate, unsupported / 4))
    #expect(pooled.unsupportedBootstrap.testedRows == 8)
    #expect(pooled.importanceWeights == nil)
  }

  /// The streamed normalisation statistics equal `ObservationNormalization.fit` on the whole
  /// column (Chan's merge of per-block moments), across tasks and block boundaries.
  @Test func streamedNormalizationMatchesFit() throws {
    let directory = try Fixtures.TemporaryDirectory("coverage-normalization")
    var text = "task,episode,step,obs_0,obs_1,action,reward,next_obs_0,next_obs_1,terminated,truncated\n"
    var columns: [[Double]] = [[], []]
    for (t, task) in ["a", "b"].enumerated() {
      for i in 0..<(17 + 6 * t) {
        let x = [Double(i * i % 11) / 7 + Double(t), 1e6 + Double(i % 5) * 0.125]
        columns[t] += x
        text += "\(task),\(i),0,\(x[0]),\(x[1]),\(i % 2),0,0,0,0,1\n"
      }
    }
    let csv = directory.file("obs.csv")
    try text.write(toFile: csv, atomically: true, encoding: .utf8)
    let store = directory.file("obs.h5")
    _ = try Ingester.run(
      Fixtures.options(
        [csv], output: store, observationSpace: .box(shape: [2], dtype: .float64, low: nil, high: nil),
        actionSpace: .discrete(n: 2, start: 0)))
    let streamed = try CoverageAnalysis.streamingNormalization(
      reader: try StoreReader(path: store), tasks: ["a", "b"],
      observationSpace: .box(shape: [2], dtype: .float64, low: nil, high: nil), blockRows: 4)
    let fitted = ObservationNormalization.fit(columns, dimension: 2)
    for j in 0..<2 {
      #expect(approx(streamed.mean[j], fitted.mean[j], 1e-14))
      #expect(approx(streamed.scale[j], fitted.scale[j], 1e-9))
    }
  }

  /// Importance weights from the store's behaviour probabilities on a Discrete store.
  @Test func behaviorProbabilitiesGiveTheWeights() throws {
    let directory = try Fixtures.TemporaryDirectory("coverage-b-probs")
    var rows = CoverageFixtures.coveredRows
    let probabilities = [0.8, 0.4, 0.2, 0.6, 0.6, 0.8]
    for i in rows.indices { rows[i].behaviorProbability = probabilities[i] }
    let store = try CoverageFixtures.store(rows, states: 2, actions: 2, in: directory)
    let report = try CoverageFixtures.analyse(CoverageOptions(store: store))
    let weights = try #require(report.tasks.first?.importanceWeights)
    let w = probabilities.map { 0.5 / $0 }
    let sum = w.reduce(0, +)
    let squares = w.reduce(0) { $0 + $1 * $1 }
    #expect(weights.behavior == "behavior_probs")
    #expect(approx(weights.ess, sum * sum / squares) && approx(weights.meanWeight, sum / 6))
    #expect(report.objective.source == "default" && report.objective.gamma == 0.9)
  }
}
