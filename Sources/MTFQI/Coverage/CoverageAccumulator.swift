import Foundation

/// Sums of importance weights w = pi(a|s) / beta(a|s) over rows.
struct ImportanceSums: Sendable {
  /// "behavior_probs", "counts", or "mixed" after merging scopes of both kinds.
  var source: String
  var rows = 0
  var sum = 0.0
  var squares = 0.0
  var maximum = 0.0

  mutating func add(_ weight: Double) {
    rows += 1
    sum += weight
    squares += weight * weight
    if weight > maximum { maximum = weight }
  }

  mutating func merge(_ other: ImportanceSums) {
    if source != other.source { source = rows == 0 ? other.source : "mixed" }
    rows += other.rows
    sum += other.sum
    squares += other.squares
    maximum = max(maximum, other.maximum)
  }

  var report: ImportanceReport {
    let ess = squares > 0 ? sum * sum / squares : 0
    return ImportanceReport(
      behavior: source, rows: rows, ess: ess, essFraction: rows > 0 ? ess / Double(rows) : 0,
      meanWeight: rows > 0 ? sum / Double(rows) : 0, maxWeight: maximum)
  }
}

/// Transition counts N(s, a, s') as sorted keys (pair * S + s') with counts.
struct SparseTransitions: Sendable {
  var keys: [Int] = []
  var counts: [Int] = []

  /// Run-length encodes unsorted keys.
  init(unsortedKeys: [Int]) {
    let sorted = unsortedKeys.sorted()
    var index = 0
    while index < sorted.count {
      let key = sorted[index]
      var end = index + 1
      while end < sorted.count && sorted[end] == key { end += 1 }
      keys.append(key)
      counts.append(end - index)
      index = end
    }
  }

  init() {}

  /// The sum of two count sets (a sorted merge).
  func merged(with other: SparseTransitions) -> SparseTransitions {
    var result = SparseTransitions()
    result.keys.reserveCapacity(keys.count + other.keys.count)
    result.counts.reserveCapacity(keys.count + other.keys.count)
    var i = 0
    var j = 0
    while i < keys.count || j < other.keys.count {
      if j == other.keys.count || (i < keys.count && keys[i] < other.keys[j]) {
        result.keys.append(keys[i])
        result.counts.append(counts[i])
        i += 1
      } else if i == keys.count || other.keys[j] < keys[i] {
        result.keys.append(other.keys[j])
        result.counts.append(other.counts[j])
        j += 1
      } else {
        result.keys.append(keys[i])
        result.counts.append(counts[i] + other.counts[j])
        i += 1
        j += 1
      }
    }
    return result
  }
}

/// Counts of a Discrete-observation scope, accumulated row by row.
struct DiscreteCounts: Sendable {
  let states: Int
  let actions: Int
  /// N(s, a) at index s * A + a.
  var pairCounts: [Int]
  /// Terminated rows per pair (their mass leaves the plug-in model).
  var terminalCounts: [Int]
  /// Keys pair * S + s' of bootstrapping rows, collected during the pass.
  var transitionKeys: [Int] = []
  var transitions = SparseTransitions()
  /// Next states of bootstrapping rows.
  var nextStateCounts: [Int]
  /// States of rows with step == 0.
  var startCounts: [Int]
  /// sum over bootstrapping rows of pi_{h+1}(a | s') at pair (s', a).
  var targetMass: [Double]
  /// Per pair: sum over its rows of pi_h(a_i | s_i) and of its square (count-based ESS).
  var policySum: [Double]
  var policySquares: [Double]
  var policyMaximum: [Double]
  /// Finite horizon: N_h(s, a) of the rows whose step is h, h in 0..<H.
  var stepPairCounts: [[Int]]

  init(states: Int, actions: Int, horizon: Int?) {
    self.states = states
    self.actions = actions
    let pairs = states * actions
    pairCounts = [Int](repeating: 0, count: pairs)
    terminalCounts = [Int](repeating: 0, count: pairs)
    nextStateCounts = [Int](repeating: 0, count: states)
    startCounts = [Int](repeating: 0, count: states)
    targetMass = [Double](repeating: 0, count: pairs)
    policySum = [Double](repeating: 0, count: pairs)
    policySquares = [Double](repeating: 0, count: pairs)
    policyMaximum = [Double](repeating: 0, count: pairs)
    stepPairCounts = Array(repeating: [Int](repeating: 0, count: pairs), count: horizon ?? 0)
  }

  /// Sorts the collected transition keys into counts.
  mutating func finish() {
    transitions = SparseTransitions(unsortedKeys: transitionKeys)
    transitionKeys = []
  }

  mutating func merge(_ other: DiscreteCounts) {
    func add(_ a: inout [Int], _ b: [Int]) { for i in a.indices { a[i] += b[i] } }
    func add(_ a: inout [Double], _ b: [Double]) { for i in a.indices { a[i] += b[i] } }
    add(&pairCounts, other.pairCounts)
    add(&terminalCounts, other.terminalCounts)
    add(&nextStateCounts, other.nextStateCounts)
    add(&startCounts, other.startCounts)
    add(&targetMass, other.targetMass)
    add(&policySum, other.policySum)
    add(&policySquares, other.policySquares)
    for i in policyMaximum.indices {
      policyMaximum[i] = max(policyMaximum[i], other.policyMaximum[i])
    }
    for h in stepPairCounts.indices { add(&stepPairCounts[h], other.stepPairCounts[h]) }
    transitions = transitions.merged(with: other.transitions)
  }

  /// Importance weights with beta(a|s) = N(s, a) / N(s): w = pi(a|s) N(s) / N(s, a), summed
  /// from the per-pair sums of pi.
  func countImportance() -> ImportanceSums {
    var sums = ImportanceSums(source: "counts")
    for s in 0..<states {
      var stateCount = 0
      for a in 0..<actions { stateCount += pairCounts[s * actions + a] }
      for a in 0..<actions {
        let p = s * actions + a
        let count = pairCounts[p]
        if count == 0 { continue }
        let ratio = Double(stateCount) / Double(count)
        sums.rows += count
        sums.sum += ratio * policySum[p]
        sums.squares += ratio * ratio * policySquares[p]
        sums.maximum = max(sums.maximum, ratio * policyMaximum[p])
      }
    }
    return sums
  }
}

/// Per-action-block second moments of block feature maps, accumulated from blocks of rows:
/// unnormalised sums (upper triangles until `finish`).
struct BlockSums: Sendable {
  let actions: Int
  let blockSize: Int
  /// sum over rows with action a of phi(s) phi(s)^T.
  var mu: [Matrix]
  /// sum over bootstrapping rows of pi(a|s') phi(s') phi(s')^T.
  var pi: [Matrix]
  /// Uniform target: sum over bootstrapping rows of phi(s') phi(s')^T (times 1/A at the end).
  var piShared: Matrix?
  /// sum over bootstrapping rows of pi(a|s') phi(s'), block a.
  var nu: [[Double]]

  init(actions: Int, blockSize m: Int, uniformTarget: Bool) {
    self.actions = actions
    blockSize = m
    mu = Array(repeating: Matrix(rows: m, columns: m), count: actions)
    pi = uniformTarget ? [] : Array(repeating: Matrix(rows: m, columns: m), count: actions)
    piShared = uniformTarget ? Matrix(rows: m, columns: m) : nil
    nu = Array(repeating: [Double](repeating: 0, count: m), count: actions)
  }

  /// Makes every block symmetric (the sums fill only upper triangles).
  mutating func finish() {
    for a in 0..<actions { LinearAlgebra.symmetrizeFromUpperTriangle(&mu[a]) }
    for a in pi.indices { LinearAlgebra.symmetrizeFromUpperTriangle(&pi[a]) }
    if var shared = piShared {
      LinearAlgebra.symmetrizeFromUpperTriangle(&shared)
      piShared = shared
    }
  }

  mutating func merge(_ other: BlockSums) throws(LinearAlgebraError) {
    func add(_ a: inout Matrix, _ b: Matrix) {
      for i in a.storage.indices { a.storage[i] += b.storage[i] }
    }
    for a in 0..<actions {
      add(&mu[a], other.mu[a])
      for j in 0..<blockSize { nu[a][j] += other.nu[a][j] }
    }
    for a in pi.indices { add(&pi[a], other.pi[a]) }
    if var shared = piShared, let otherShared = other.piShared {
      add(&shared, otherShared)
      piShared = shared
    }
  }

  /// Sigma_mu = sums / rows, Sigma_pi = sums / bootstrapping rows.
  func moments(rows: Int, bootstrappingRows: Int) -> FeatureMoments {
    let muScale = rows > 0 ? 1 / Double(rows) : 0
    let piScale = bootstrappingRows > 0 ? 1 / Double(bootstrappingRows) : 0
    func scaled(_ matrix: Matrix, _ factor: Double) -> Matrix {
      Matrix(
        rows: matrix.rows, columns: matrix.columns, columnMajor: matrix.storage.map { $0 * factor })
    }
    let piBlocks: [Matrix]
    if let piShared {
      let block = scaled(piShared, piScale / Double(actions))
      piBlocks = Array(repeating: block, count: actions)
    } else {
      piBlocks = pi.map { scaled($0, piScale) }
    }
    return FeatureMoments(
      sigmaMu: .blocks(mu.map { scaled($0, muScale) }), sigmaPi: .blocks(piBlocks),
      nuPi: nu.flatMap { $0.map { $0 * piScale } })
  }
}

/// Everything one pass gathers about a scope (a task, or the pooled tasks after merging).
struct ScopeAccumulator: Sendable {
  var names: [String]
  var rows = 0
  var bootstrappingRows = 0
  var startRows = 0
  var discrete: DiscreteCounts?
  var blocks: BlockSums?
  /// Weights from the store's behavior_probs (nil when the task has none).
  var storeImportance: ImportanceSums?

  mutating func merge(_ other: ScopeAccumulator) throws(LinearAlgebraError) {
    names += other.names
    rows += other.rows
    bootstrappingRows += other.bootstrappingRows
    startRows += other.startRows
    if var discrete, let otherDiscrete = other.discrete {
      discrete.merge(otherDiscrete)
      self.discrete = discrete
    }
    if var blocks, let otherBlocks = other.blocks {
      try blocks.merge(otherBlocks)
      self.blocks = blocks
    }
  }
}
