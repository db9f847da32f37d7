import Foundation

/// psi over all (state, action) pairs of Discrete spaces.
enum PairFeatures: Sendable {
  /// One-hot: psi(s, a) = e_{s * A + a}, D = S * A.
  case identity(dimension: Int)
  /// A table: row s * A + a of this (S * A) x D column-major matrix.
  case matrix(Matrix)

  /// psi(s, a)^T theta for every pair (index s * A + a): theta itself for one-hot features,
  /// the table times theta otherwise.
  func values(_ theta: [Double]) throws(LinearAlgebraError) -> [Double] {
    switch self {
    case .identity: return theta
    case .matrix(let x): return try LinearAlgebra.gemv(x, theta)
    }
  }

  var dimension: Int {
    switch self {
    case .identity(let d): d
    case .matrix(let x): x.columns
    }
  }
}

/// The rows of one regression problem of fitted Q-iteration (a task, or a task at one step),
/// laid out for fast passes, with its normalised Gram matrix G = Psi^T Psi / n computed once.
///
/// - `.pairs` (Discrete observations): the pair index s * A + a of every row and the next
///   state; psi comes from `PairFeatures`. Psi^T y = X^T h with h the per-pair sums of y.
/// - `.blocks` (per-action-block features): rows are regrouped by action (stable), so action
///   a's rows are `ranges[a]`; `phi[a]` is their n_a x m feature matrix and `phiNext` the
///   n x m features of every row's next observation (zero rows where it does not bootstrap).
///   `rewards` and `continuation` are in the same regrouped order.
///
/// `continuation[i]` = gamma * (1 - terminated_i): 0 means the row never bootstraps.
final class RegressionData: Sendable {
  enum Layout: Sendable {
    case pairs(
      pairs: [Int32], nextStates: [Int32], features: PairFeatures, states: Int, actions: Int)
    case blocks(phi: [Matrix], ranges: [Range<Int>], phiNext: Matrix, blockSize: Int)
  }

  let task: String
  let count: Int
  let rewards: [Double]
  let continuation: [Double]
  let layout: Layout
  let gram: BlockGram
  /// max |r| over the rows (for the divergence bound).
  let maxAbsReward: Double
  /// `.pairs` only: the rows grouped by (pair, next state) when that makes target passes
  /// cheaper (see `PairGroups`); nil means passes go over the rows.
  let pairGroups: PairGroups?

  init(
    task: String, rewards: [Double], continuation: [Double], layout: Layout, gram: BlockGram,
    pairGroups: PairGroups? = nil
  ) {
    self.task = task
    self.pairGroups = pairGroups
    self.count = rewards.count
    self.rewards = rewards
    self.continuation = continuation
    self.layout = layout
    self.gram = gram
    maxAbsReward = rewards.reduce(0) { max($0, $1.magnitude) }
  }

  var dimension: Int { gram.dimension }

  /// The same rows with other pair features (the oracle's B*^T x): a new Gram matrix, shared
  /// index arrays. Precondition: a `.pairs` layout.
  func withPairFeatures(_ features: PairFeatures) throws(LinearAlgebraError) -> RegressionData {
    guard case .pairs(let pairs, let next, _, let states, let actions) = layout else {
      preconditionFailure("withPairFeatures needs Discrete pairs")
    }
    let counts = Self.pairCounts(pairs, pairCount: states * actions)
    return RegressionData(
      task: task, rewards: rewards, continuation: continuation,
      layout: .pairs(
        pairs: pairs, nextStates: next, features: features, states: states, actions: actions),
      gram: try Self.pairGram(counts: counts, rows: count, features: features),
      pairGroups: pairGroups)
  }

  // MARK: Building

  /// Row-level preparation that needs no BLAS (run on parallel threads).
  struct Prepared: Sendable {
    var task: String
    var rewards: [Double]
    var continuation: [Double]
    var pairs: [Int32] = []
    var nextStates: [Int32] = []
    var pairGroups: PairGroups? = nil
    var phi: [Matrix] = []
    var ranges: [Range<Int>] = []
    var phiNext: Matrix? = nil
  }

  /// Selects `rows` of a task (all rows when nil) and lays them out for `featureMap`.
  static func prepare(
    _ task: TaskTransitions, rows: [Int]?, featureMap: FeatureMap, discount: Double
  ) -> Prepared {
    let selected = rows ?? Array(0..<task.count)
    let d = task.observationDimension
    switch featureMap.structure {
    case .pairs(let states, let actions):
      let stateStart = Double(featureMap.stateStart)
      let actionStart = featureMap.actionStart
      var pairs = [Int32](repeating: 0, count: selected.count)
      var next = [Int32](repeating: -1, count: selected.count)
      var rewards = [Double](repeating: 0, count: selected.count)
      var continuation = [Double](repeating: 0, count: selected.count)
      for (i, row) in selected.enumerated() {
        let s = Int(task.observations[row] - stateStart)
        pairs[i] = Int32(s * actions + Int(task.actions[row] - actionStart))
        rewards[i] = task.rewards[row]
        if task.terminations[row] == 0 {
          continuation[i] = discount
          next[i] = Int32(task.nextObservations[row] - stateStart)
        }
      }
      let groups = PairGroups.make(
        pairs: pairs, nextStates: next, rewards: rewards, continuation: continuation,
        states: states, actions: actions)
      return Prepared(
        task: task.name, rewards: rewards, continuation: continuation, pairs: pairs,
        nextStates: next, pairGroups: groups)
    case .actionBlocks(let actions, _):
      let actionStart = featureMap.actionStart
      var byAction = [[Int]](repeating: [], count: actions)
      for row in selected { byAction[Int(task.actions[row] - actionStart)].append(row) }
      var order: [Int] = []
      order.reserveCapacity(selected.count)
      var ranges: [Range<Int>] = []
      var phi: [Matrix] = []
      for a in 0..<actions {
        let start = order.count
        order += byAction[a]
        ranges.append(start..<order.count)
        var observations = [Double](repeating: 0, count: byAction[a].count * d)
        for (i, row) in byAction[a].enumerated() {
          for j in 0..<d { observations[i * d + j] = task.observations[row * d + j] }
        }
        phi.append(featureMap.stateFeatures(observations, rows: byAction[a].count))
      }
      var rewards = [Double](repeating: 0, count: order.count)
      var continuation = [Double](repeating: 0, count: order.count)
      var nextObservations = [Double](repeating: .nan, count: order.count * d)
      for (i, row) in order.enumerated() {
        rewards[i] = task.rewards[row]
        if task.terminations[row] == 0 {
          continuation[i] = discount
          for j in 0..<d { nextObservations[i * d + j] = task.nextObservations[row * d + j] }
        }
      }
      // Non-finite next observations (rows that never bootstrap) give zero feature rows.
      let phiNext = featureMap.stateFeatures(nextObservations, rows: order.count)
      return Prepared(
        task: task.name, rewards: rewards, continuation: continuation, phi: phi, ranges: ranges,
        phiNext: phiNext)
    }
  }

  /// Finishes a prepared problem: computes its Gram matrix (BLAS, calling thread).
  static func finish(_ prepared: Prepared, featureMap: FeatureMap) throws(LinearAlgebraError)
    -> RegressionData
  {
    let n = prepared.rewards.count
    switch featureMap.structure {
    case .pairs(let states, let actions):
      let features: PairFeatures =
        featureMap.pairMatrix().map { .matrix($0) } ?? .identity(dimension: states * actions)
      let counts = pairCounts(prepared.pairs, pairCount: states * actions)
      return RegressionData(
        task: prepared.task, rewards: prepared.rewards, continuation: prepared.continuation,
        layout: .pairs(
          pairs: prepared.pairs, nextStates: prepared.nextStates, features: features,
          states: states, actions: actions),
        gram: try pairGram(counts: counts, rows: n, features: features),
        pairGroups: prepared.pairGroups)
    case .actionBlocks(_, let m):
      var blocks: [Matrix] = []
      let scale = 1 / Double(max(n, 1))
      for phi in prepared.phi {
        var c = Matrix(rows: m, columns: m)
        try LinearAlgebra.syrk(phi, alpha: scale, into: &c, beta: 0)
        blocks.append(c)
      }
      return RegressionData(
        task: prepared.task, rewards: prepared.rewards, continuation: prepared.continuation,
        layout: .blocks(
          phi: prepared.phi, ranges: prepared.ranges,
          phiNext: prepared.phiNext ?? Matrix(rows: n, columns: m), blockSize: m),
        gram: BlockGram(blocks: blocks))
    }
  }

  /// Builds the problems of several (task, rows) selections: the row work on parallel
  /// threads, the Gram matrices on the calling thread. Deterministic.
  static func build(
    _ selections: [(task: TaskTransitions, rows: [Int]?)], featureMap: FeatureMap,
    discount: Double
  ) throws(LinearAlgebraError) -> [RegressionData] {
    let prepared = Parallel.map(selections.count) { index in
      prepare(
        selections[index].task, rows: selections[index].rows, featureMap: featureMap,
        discount: discount)
    }
    var result: [RegressionData] = []
    for item in prepared { result.append(try finish(item, featureMap: featureMap)) }
    return result
  }

  static func pairCounts(_ pairs: [Int32], pairCount: Int) -> [Double] {
    var counts = [Double](repeating: 0, count: pairCount)
    for pair in pairs { counts[Int(pair)] += 1 }
    return counts
  }

  /// X^T diag(counts / n) X, or diag(counts / n) for one-hot.
  static func pairGram(counts: [Double], rows n: Int, features: PairFeatures)
    throws(LinearAlgebraError) -> BlockGram
  {
    let scale = 1 / Double(max(n, 1))
    switch features {
    case .identity:
      return BlockGram(diagonal: counts.map { $0 * scale })
    case .matrix(let x):
      var weighted = x
      for j in 0..<x.columns {
        for i in 0..<x.rows { weighted.storage[i + j * x.rows] *= (counts[i] * scale).squareRoot() }
      }
      return BlockGram(blocks: [LinearAlgebra.gram(weighted)])
    }
  }
}

/// What one pass over a problem's rows gives for the next least-squares fit: the targets'
/// cross moment c = Psi^T y / n, their mean square y^T y / n, and the largest |Q| among the
/// bootstrapped next-state values.
struct TargetStatistics: Sendable {
  var cross: [Double]
  var squares: Double
  /// Before clipping: what the guard watches.
  var maxAbsNextValue: Double
  /// After clipping: the largest |max_a' Q(s', a')| the targets hold (equal to
  /// `maxAbsNextValue` without clipping; inside the clip range by construction).
  var maxAbsBootstrapped: Double = 0
  /// The share of bootstrapping rows whose next-state value was clipped.
  var clippedShare = 0.0
}

extension RegressionData {
  /// Targets y_i = r_i + continuation_i * clip(max_a' psi(s'_i, a')^T nextTheta, clips[p])
  /// (y = r when `nextTheta` is nil; no clipping when `clips` is nil or its entry is nil) for
  /// every problem, and their statistics.
  ///
  /// BLAS work (Q tables, next-state products, X^T h) runs on the calling thread; the row
  /// loops run on parallel threads, one problem each. Sums run in row order, so the result is
  /// deterministic.
  static func targetStatistics(
    _ problems: [RegressionData], nextThetas: [[Double]?], clips: [ClosedRange<Double>?]? = nil
  )
    throws(LinearAlgebraError) -> [TargetStatistics]
  {
    precondition(problems.count == nextThetas.count, "targetStatistics: one theta per problem")
    // Phase 1 (BLAS): the next-state values each problem needs.
    var support: [NextValueSupport] = []
    for (problem, theta) in zip(problems, nextThetas) {
      support.append(try problem.nextValueSupport(theta))
    }
    let supports = support
    // Phase 2 (parallel row loops).
    let partial = Parallel.map(problems.count) { index in
      problems[index].accumulateTargets(supports[index], clip: clips?[index] ?? nil)
    }
    // Phase 3 (BLAS): c = Psi^T y / n.
    var result: [TargetStatistics] = []
    for (problem, part) in zip(problems, partial) {
      result.append(
        TargetStatistics(
          cross: try problem.crossMoment(part.sums),
          squares: part.squares / Double(max(problem.count, 1)),
          maxAbsNextValue: part.maxAbsNext, maxAbsBootstrapped: part.maxAbsUsed,
          clippedShare: part.bootstrapped > 0 ? part.clipped / part.bootstrapped : 0))
    }
    return result
  }

  enum NextValueSupport: Sendable {
    case none
    /// V(s) = max_a Q(s, a) for every state.
    case stateValues([Double])
    /// Q(s'_i, a) for every row i (column a of an n x A column-major matrix).
    case rowValues(Matrix)
  }

  func nextValueSupport(_ theta: [Double]?) throws(LinearAlgebraError) -> NextValueSupport {
    guard let theta else { return .none }
    switch layout {
    case .pairs(_, _, let features, let states, let actions):
      let q = try features.values(theta)
      var values = [Double](repeating: 0, count: states)
      for s in 0..<states {
        var best = q[s * actions]
        for a in 1..<max(actions, 1) { best = max(best, q[s * actions + a]) }
        values[s] = best
      }
      return .stateValues(values)
    case .blocks(let phi, _, let phiNext, let m):
      let actions = phi.count
      let weights = Matrix(rows: m, columns: actions, columnMajor: theta)
      return .rowValues(try LinearAlgebra.gemm(phiNext, weights))
    }
  }

  struct PartialTargets: Sendable {
    /// `.pairs`: per-pair sums of y; `.blocks`: y itself (regrouped order).
    var sums: [Double]
    var squares: Double
    var maxAbsNext: Double
    /// After clipping.
    var maxAbsUsed = 0.0
    var clipped = 0.0
    var bootstrapped = 0.0
  }

  func accumulateTargets(_ support: NextValueSupport, clip: ClosedRange<Double>? = nil)
    -> PartialTargets
  {
    var squares = 0.0
    var maxAbsNext = 0.0
    var maxAbsUsed = 0.0
    var clipped = 0.0
    var bootstrapped = 0.0
    let low = clip?.lowerBound ?? -Double.infinity
    let high = clip?.upperBound ?? Double.infinity
    switch layout {
    case .pairs(let pairs, let next, _, let states, let actions):
      var sums = [Double](repeating: 0, count: states * actions)
      if let groups = pairGroups {
        let values: [Double]?
        if case .stateValues(let v) = support { values = v } else { values = nil }
        let result = groups.accumulate(values: values, into: &sums, clip: clip)
        return PartialTargets(
          sums: sums, squares: result.squares, maxAbsNext: result.maxAbsNext,
          maxAbsUsed: result.maxAbsUsed, clipped: result.clipped,
          bootstrapped: result.bootstrapped)
      }
      rewards.withUnsafeBufferPointer { r in
        continuation.withUnsafeBufferPointer { c in
          pairs.withUnsafeBufferPointer { p in
            next.withUnsafeBufferPointer { nx in
              sums.withUnsafeMutableBufferPointer { h in
                switch support {
                case .stateValues(let values):
                  values.withUnsafeBufferPointer { v in
                    for i in 0..<r.count {
                      var y = r[i]
                      if c[i] != 0 {
                        var value = v[Int(nx[i])]
                        maxAbsNext = max(maxAbsNext, value.magnitude)
                        bootstrapped += 1
                        if value < low || value > high {
                          value = min(max(value, low), high)
                          clipped += 1
                        }
                        maxAbsUsed = max(maxAbsUsed, value.magnitude)
                        y += c[i] * value
                      }
                      h[Int(p[i])] += y
                      squares += y * y
                    }
                  }
                default:
                  for i in 0..<r.count {
                    h[Int(p[i])] += r[i]
                    squares += r[i] * r[i]
                  }
                }
              }
            }
          }
        }
      }
      return PartialTargets(
        sums: sums, squares: squares, maxAbsNext: maxAbsNext, maxAbsUsed: maxAbsUsed,
        clipped: clipped, bootstrapped: bootstrapped)
    case .blocks(let phi, _, _, _):
      let n = count
      let actions = phi.count
      var y = rewards
      if case .rowValues(let q) = support {
        q.storage.withUnsafeBufferPointer { qv in
          continuation.withUnsafeBufferPointer { c in
            y.withUnsafeMutableBufferPointer { yv in
              for i in 0..<n where c[i] != 0 {
                var best = qv[i]
                for a in 1..<max(actions, 1) { best = max(best, qv[i + a * n]) }
                maxAbsNext = max(maxAbsNext, best.magnitude)
                bootstrapped += 1
                if best < low || best > high {
                  best = min(max(best, low), high)
                  clipped += 1
                }
                maxAbsUsed = max(maxAbsUsed, best.magnitude)
                yv[i] += c[i] * best
              }
            }
          }
        }
      }
      for value in y { squares += value * value }
      return PartialTargets(
        sums: y, squares: squares, maxAbsNext: maxAbsNext, maxAbsUsed: maxAbsUsed,
        clipped: clipped, bootstrapped: bootstrapped)
    }
  }

  /// Psi^T y / n from the pass's sums.
  func crossMoment(_ sums: [Double]) throws(LinearAlgebraError) -> [Double] {
    let scale = 1 / Double(max(count, 1))
    switch layout {
    case .pairs(_, _, let features, _, _):
      switch features {
      case .identity:
        return sums.map { $0 * scale }
      case .matrix(let x):
        return try LinearAlgebra.gemv(x, .transpose, sums).map { $0 * scale }
      }
    case .blocks(let phi, let ranges, _, let m):
      var cross = [Double](repeating: 0, count: phi.count * m)
      for (a, block) in phi.enumerated() where block.rows > 0 {
        let part = try LinearAlgebra.gemv(block, .transpose, Array(sums[ranges[a]]))
        for j in 0..<m { cross[a * m + j] = part[j] * scale }
      }
      return cross
    }
  }

  /// Q(s, a) = psi(s, a)^T theta at every row of this problem, in layout order (tests and
  /// the reference comparison).
  /// Psi^T r / n: the cross moment of the rewards alone (the targets of a step without
  /// bootstrapping), for reward fits.
  func rewardCross() throws(LinearAlgebraError) -> [Double] {
    try Self.targetStatistics([self], nextThetas: [nil])[0].cross
  }

  func fittedValues(_ theta: [Double]) throws(LinearAlgebraError) -> [Double] {
    switch layout {
    case .pairs(let pairs, _, let features, _, _):
      let q = try features.values(theta)
      return pairs.map { q[Int($0)] }
    case .blocks(let phi, _, _, let m):
      var values: [Double] = []
      for (a, block) in phi.enumerated() {
        values += try LinearAlgebra.gemv(block, Array(theta[(a * m)..<((a + 1) * m)]))
      }
      return values
    }
  }
}
