import Foundation

/// The objective the occupancy is computed for.
enum CoverageObjective: Sendable, Equatable {
  case discounted(gamma: Double)
  case finiteHorizon(horizon: Int, stepData: CoverageStepData)

  var horizon: Int? {
    if case .finiteHorizon(let horizon, _) = self { return horizon }
    return nil
  }
}

/// The plug-in model P-hat(s' | s, a) = N(s, a, s') / N(s, a) in compressed rows, one row per
/// pair. Terminated rows count in N(s, a) but have no s': their share of the mass leaves the
/// chain (absorbing terminal state). Unseen pairs have an empty row: mass that reaches them
/// leaves the chain too (their dynamics are unknown; concentrability is infinite there anyway).
struct PlugInModel: Sendable {
  let states: Int
  let actions: Int
  /// Row p is `rowStart[p] ..< rowStart[p + 1]` of `next` / `probability`.
  var rowStart: [Int]
  var next: [Int32]
  var probability: [Double]

  init(_ counts: DiscreteCounts) {
    states = counts.states
    actions = counts.actions
    let pairs = states * actions
    rowStart = [Int](repeating: 0, count: pairs + 1)
    next = []
    probability = []
    next.reserveCapacity(counts.transitions.keys.count)
    probability.reserveCapacity(counts.transitions.keys.count)
    var index = 0
    let keys = counts.transitions.keys
    for p in 0..<pairs {
      rowStart[p] = next.count
      let total = Double(counts.pairCounts[p])
      while index < keys.count && keys[index] / states == p {
        next.append(Int32(keys[index] % states))
        probability.append(Double(counts.transitions.counts[index]) / total)
        index += 1
      }
    }
    rowStart[pairs] = next.count
  }

  /// pairMass(s, a) = x(s) pi_h(a|s).
  func pairMass(_ x: [Double], _ policy: TargetPolicy, step h: Int) -> [Double] {
    var mass = [Double](repeating: 0, count: states * actions)
    for s in 0..<states where x[s] != 0 {
      switch policy.kind {
      case .greedyTable:
        mass[s * actions + policy.tableAction(state: s, step: h)] = x[s]
      default:
        for a in 0..<actions { mass[s * actions + a] = x[s] / Double(actions) }
      }
    }
    return mass
  }

  /// x'(s') = sum over pairs of mass(p) P-hat(s' | p).
  func propagate(_ mass: [Double]) -> [Double] {
    var result = [Double](repeating: 0, count: states)
    for p in 0..<(states * actions) where mass[p] != 0 {
      for e in rowStart[p]..<rowStart[p + 1] { result[Int(next[e])] += mass[p] * probability[e] }
    }
    return result
  }
}

/// Tabular coverage of Discrete observations: counts, the data-only bound and the
/// single-policy concentrability of the plug-in occupancy.
enum TabularCoverage {
  /// Concentrability numbers of an occupancy d against a sampling distribution mu (both over
  /// pairs, row-major S x A).
  struct Ratio {
    var concentrability: Double
    var chiSquare: Double
    var argmax: Int?
    var unsupportedMass: Double
    var unsupportedPairs: Int
    var mass: Double
  }

  /// C = max over pairs with d > 0 of d / mu and sqrt(sum d^2 / mu); both infinite when d > 0
  /// on a pair with mu = 0.
  static func ratio(_ d: [Double], _ mu: [Double]) -> Ratio {
    var result = Ratio(
      concentrability: 0, chiSquare: 0, argmax: nil, unsupportedMass: 0, unsupportedPairs: 0,
      mass: 0)
    var sum = 0.0
    for p in d.indices where d[p] > 0 {
      result.mass += d[p]
      if mu[p] <= 0 {
        result.unsupportedMass += d[p]
        result.unsupportedPairs += 1
        if result.concentrability != .infinity { result.argmax = p }
        result.concentrability = .infinity
        continue
      }
      let value = d[p] / mu[p]
      sum += d[p] * value
      if value > result.concentrability {
        result.concentrability = value
        result.argmax = p
      }
    }
    result.chiSquare = result.unsupportedPairs > 0 ? .infinity : sum.squareRoot()
    return result
  }

  /// The start distribution rho over states and its source: the truth's when given, else the
  /// states of the rows with step == 0, else every row's state.
  static func startDistribution(
    _ counts: DiscreteCounts, startRows: Int, truth: [Double]?
  ) -> (rho: [Double], source: String) {
    if let truth { return (truth, "truth") }
    if startRows > 0 {
      let total = Double(counts.startCounts.reduce(0, +))
      return (counts.startCounts.map { Double($0) / total }, "episode_starts")
    }
    var stateCounts = [Double](repeating: 0, count: counts.states)
    for s in 0..<counts.states {
      for a in 0..<counts.actions {
        stateCounts[s] += Double(counts.pairCounts[s * counts.actions + a])
      }
    }
    let total = stateCounts.reduce(0, +)
    return (stateCounts.map { total > 0 ? $0 / total : 0 }, "all_rows")
  }

  /// The discounted occupancy d(s, a) = (1 - gamma) sum_t gamma^t Pr(s_t = s, a_t = a) of the
  /// plug-in chain, by the Neumann series; stops when gamma^t times the live mass is at most
  /// 1e-15 (a bound on everything still to come) or after 10^6 terms.
  static func discountedOccupancy(
    _ model: PlugInModel, policy: TargetPolicy, rho: [Double], gamma: Double
  ) -> (d: [Double], iterations: Int) {
    var d = [Double](repeating: 0, count: model.states * model.actions)
    var x = rho
    var weight = 1 - gamma
    var iterations = 0
    while iterations < 1_000_000 {
      let mass = model.pairMass(x, policy, step: 0)
      for p in d.indices { d[p] += weight * mass[p] }
      iterations += 1
      if gamma == 0 { break }
      x = model.propagate(mass)
      weight *= gamma
      let live = x.reduce(0, +)
      if weight / (1 - gamma) * live <= 1e-15 { break }
    }
    return (d, iterations)
  }

  /// Per-step occupancies d_h(s, a), h = 0..<H: d_0 = rho pi_0, d_{h+1}(s') = sum d_h P-hat.
  static func stepOccupancies(
    _ model: PlugInModel, policy: TargetPolicy, rho: [Double], horizon: Int
  ) -> [[Double]] {
    var result: [[Double]] = []
    var x = rho
    for h in 0..<horizon {
      let mass = model.pairMass(x, policy, step: policy.stepIndex(Int64(h)))
      result.append(mass)
      if h + 1 < horizon { x = model.propagate(mass) }
    }
    return result
  }

  /// The tabular report of one scope. `policies` are (weight, policy) pairs whose occupancies
  /// are mixed (one for a task; one per task, weighted by its rows, for pooled greedy).
  static func report(
    _ counts: DiscreteCounts, rows: Int, startRows: Int, policies: [(Double, TargetPolicy)],
    truthStart: [Double]?, objective: CoverageObjective, stateStart: Int64, actionStart: Int64,
    includeCounts: Bool
  ) -> (TabularReport, startSource: String) {
    let states = counts.states
    let actions = counts.actions
    let pairs = states * actions
    let n = Double(rows)
    let mu = counts.pairCounts.map { Double($0) / n }
    let (rho, source) = startDistribution(counts, startRows: startRows, truth: truthStart)

    var reachable = [Bool](repeating: false, count: states)
    for s in 0..<states {
      var seen = counts.nextStateCounts[s] > 0 || rho[s] > 0
      for a in 0..<actions where counts.pairCounts[s * actions + a] > 0 { seen = true }
      reachable[s] = seen
    }
    var unseen = 0
    var unseenReachable = 0
    var minCount = Int.max
    var minCountReachable = Int.max
    for s in 0..<states {
      for a in 0..<actions {
        let count = counts.pairCounts[s * actions + a]
        minCount = min(minCount, count)
        if count == 0 { unseen += 1 }
        if reachable[s] {
          minCountReachable = min(minCountReachable, count)
          if count == 0 { unseenReachable += 1 }
        }
      }
    }
    if minCountReachable == Int.max { minCountReachable = 0 }
    let dataBound = minCountReachable > 0 ? n / Double(minCountReachable) : .infinity

    let model = PlugInModel(counts)
    var occupancy: OccupancyReport
    func pairState(_ p: Int?) -> Int64? { p.map { Int64($0 / actions) + stateStart } }
    func pairAction(_ p: Int?) -> Int64? { p.map { Int64($0 % actions) + actionStart } }

    switch objective {
    case .discounted(let gamma):
      var d = [Double](repeating: 0, count: pairs)
      var iterations = 0
      for (weight, policy) in policies {
        let (part, count) = discountedOccupancy(model, policy: policy, rho: rho, gamma: gamma)
        for p in 0..<pairs { d[p] += weight * part[p] }
        iterations = max(iterations, count)
      }
      let r = ratio(d, mu)
      occupancy = OccupancyReport(
        concentrability: r.concentrability, chiSquare: r.chiSquare,
        argmaxState: pairState(r.argmax),
        argmaxAction: pairAction(r.argmax), argmaxStep: nil, unsupportedMass: r.unsupportedMass,
        unsupportedPairs: r.unsupportedPairs, mass: r.mass, iterations: iterations, perStep: nil)
    case .finiteHorizon(let horizon, let stepData):
      var perStepMass = Array(repeating: [Double](repeating: 0, count: pairs), count: horizon)
      for (weight, policy) in policies {
        let parts = stepOccupancies(model, policy: policy, rho: rho, horizon: horizon)
        for h in 0..<horizon { for p in 0..<pairs { perStepMass[h][p] += weight * parts[h][p] } }
      }
      var steps: [StepOccupancy] = []
      var worst: (Ratio, Int)?
      var worstChi = 0.0
      var worstUnsupported = 0.0
      var worstUnsupportedPairs = 0
      var totalMass = 0.0
      for h in 0..<horizon {
        let stepRows = counts.stepPairCounts[h].reduce(0, +)
        let allRows = ratio(perStepMass[h], mu)
        var stepRatio: Ratio?
        if stepRows > 0 {
          let muStep = counts.stepPairCounts[h].map { Double($0) / Double(stepRows) }
          stepRatio = ratio(perStepMass[h], muStep)
        }
        let headline: Ratio
        switch stepData {
        case .pooled: headline = allRows
        case .perStep:
          headline =
            stepRatio
            ?? Ratio(
              concentrability: allRows.mass > 0 ? .infinity : 0,
              chiSquare: allRows.mass > 0 ? .infinity : 0, argmax: allRows.argmax,
              unsupportedMass: allRows.mass, unsupportedPairs: allRows.unsupportedPairs,
              mass: allRows.mass)
        }
        steps.append(
          StepOccupancy(
            step: h, concentrability: headline.concentrability, chiSquare: headline.chiSquare,
            unsupportedMass: headline.unsupportedMass,
            concentrabilityAllRows: allRows.concentrability,
            concentrabilityStepRows: stepRatio?.concentrability, stepRows: stepRows))
        if headline.concentrability > (worst?.0.concentrability ?? -1) {
          worst = (headline, h)
        }
        worstChi = max(worstChi, headline.chiSquare)
        worstUnsupported = max(worstUnsupported, headline.unsupportedMass)
        worstUnsupportedPairs = max(worstUnsupportedPairs, headline.unsupportedPairs)
        totalMass += headline.mass
      }
      let top = worst?.0
      occupancy = OccupancyReport(
        concentrability: top?.concentrability ?? 0, chiSquare: worstChi,
        argmaxState: pairState(top?.argmax), argmaxAction: pairAction(top?.argmax),
        argmaxStep: worst?.1, unsupportedMass: worstUnsupported,
        unsupportedPairs: worstUnsupportedPairs,
        mass: horizon > 0 ? totalMass / Double(horizon) : 0,
        iterations: nil, perStep: steps)
    }

    var table: [[Int]]?
    if includeCounts {
      table = (0..<states).map { s in Array(counts.pairCounts[(s * actions)..<((s + 1) * actions)])
      }
    }
    let report = TabularReport(
      states: states, actions: actions, pairs: pairs, seenPairs: pairs - unseen,
      unseenPairs: unseen,
      unseenShare: Double(unseen) / Double(pairs), minCount: minCount == Int.max ? 0 : minCount,
      reachableStates: reachable.filter { $0 }.count, unseenReachablePairs: unseenReachable,
      minCountReachable: minCountReachable, dataBound: dataBound, occupancy: occupancy,
      counts: table)
    return (report, source)
  }

  /// The unseen-pair bootstrap rate: the pi-weighted share of bootstrapping rows whose target
  /// pair (s', a') has N(s', a') = 0 in this scope.
  static func unsupportedBootstrapRate(_ counts: DiscreteCounts, bootstrappingRows: Int) -> Double {
    guard bootstrappingRows > 0 else { return 0 }
    var unsupported = 0.0
    for p in counts.targetMass.indices where counts.pairCounts[p] == 0 {
      unsupported += counts.targetMass[p]
    }
    return unsupported / Double(bootstrappingRows)
  }

  /// Sigma_mu, Sigma_pi and nu_pi of a `.pairs` feature map from the counts: with F the
  /// (S * A) x D pair matrix (nil = identity, one-hot), Sigma_mu = F^T diag(N / n) F,
  /// Sigma_pi = F^T diag(targetMass / n_boot) F, nu_pi = F^T targetMass / n_boot.
  static func pairMoments(
    _ counts: DiscreteCounts, rows: Int, bootstrappingRows: Int, features: Matrix?
  ) throws(LinearAlgebraError) -> FeatureMoments {
    let mu = counts.pairCounts.map { rows > 0 ? Double($0) / Double(rows) : 0 }
    let target = counts.targetMass.map {
      bootstrappingRows > 0 ? $0 / Double(bootstrappingRows) : 0
    }
    guard let f = features else {
      return FeatureMoments(sigmaMu: .diagonal(mu), sigmaPi: .diagonal(target), nuPi: target)
    }
    func weightedGram(_ weights: [Double]) -> Matrix {
      var scaled = f
      for j in 0..<f.columns {
        for i in 0..<f.rows { scaled.storage[i + j * f.rows] *= weights[i].squareRoot() }
      }
      return LinearAlgebra.gram(scaled)
    }
    return FeatureMoments(
      sigmaMu: .dense(weightedGram(mu)), sigmaPi: .dense(weightedGram(target)),
      nuPi: try LinearAlgebra.gemv(f, .transpose, target))
  }
}
