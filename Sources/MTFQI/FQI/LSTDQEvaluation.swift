import Foundation

/// Off-policy evaluation of a greedy policy by LSTD-Q on the base features psi (fitted Q
/// evaluation in closed form for linear features): the estimate model selection and the
/// frozen-vs-scratch call rank candidates by.
///
/// For the greedy policy pi(s) = argmax_a psi(s, a)^T theta of a candidate theta, on the rows
/// of `data` (held-out episodes, never used to fit the candidate):
///
///     (1/n) sum_i psi_i (psi_i - c_i psi(s'_i, pi(s'_i)))^T theta_pi + ridge theta_pi = (1/n) sum_i psi_i r_i
///
/// with c_i = gamma (1 - terminated_i); then the estimate of J(pi) is the mean over the rows of
/// `starts` (the held-out episodes' first states) of psi(s, pi(s))^T theta_pi, each clipped to
/// `range` (the values the rewards allow). The system is square and non-symmetric: LU
/// (LAPACK dgesv). Deterministic.
///
/// With `rewardWeights` rho (a linear reward model r(s, a) ~ psi(s, a)^T rho), the right-hand
/// side is (1/n) sum_i psi_i psi_i^T rho = G rho instead of the rows' own rewards: `data` may
/// then be the pooled transitions of every task (tasks share their dynamics; only the reward
/// is the task's), which is what `pooled(dynamics:rewards:starts:range:)` builds.
struct LSTDQEvaluation: Sendable {
  let data: RegressionData
  let starts: RegressionData
  let ridge: Double
  let range: ClosedRange<Double>
  /// The reward model rho (nil: the rows' own rewards).
  var rewardWeights: [Double]? = nil
  /// `crossTotals(data)` when the caller computed them (evaluators that share `data` share
  /// them); nil: every cross term is summed.
  var crossTotals: [Matrix]? = nil

  /// LSTD-Q ridges relative to the data's mean Gram diagonal (the evaluation and the reward
  /// model).
  static let relativeRidge = 1e-3

  /// The estimator with pooled dynamics: the system from `dynamics` (the transitions of every
  /// task, or of any set of tasks sharing the dynamics), the reward model rho fitted to the
  /// task's own rows `rewards` by ridge regression, rho = (G_t + lambda I)^-1 Psi_t^T r / n_t
  /// (lambda = `relativeRidge` times G_t's mean diagonal; for one-hot features rho(s, a) is
  /// the mean logged reward of the pair, 0 where the task never logged it). The LSTD-Q ridge
  /// is `relativeRidge` times the pooled mean Gram diagonal.
  static func pooled(
    dynamics: RegressionData, rewards own: RegressionData, starts: RegressionData,
    range: ClosedRange<Double>, crossTotals: [Matrix]? = nil
  ) throws(LinearAlgebraError) -> LSTDQEvaluation {
    let cross = try RegressionData.targetStatistics([own], nextThetas: [nil])[0].cross
    let rho = try own.gram.ridgeSolve(
      cross, ridge: relativeRidge * max(own.gram.meanDiagonal, Double.leastNormalMagnitude))
    return LSTDQEvaluation(
      data: dynamics, starts: starts,
      ridge: relativeRidge * max(dynamics.gram.meanDiagonal, Double.leastNormalMagnitude),
      range: range, rewardWeights: rho, crossTotals: crossTotals)
  }

  /// G rho (the reward model's right-hand side), or nil without a model.
  func modelRewards() throws(LinearAlgebraError) -> [Double]? {
    guard let rewardWeights else { return nil }
    return try data.gram.multiply(rewardWeights)
  }

  /// The estimated value J(pi) of the greedy policy of `theta`, and theta_pi.
  func value(of theta: [Double]) throws(LinearAlgebraError) -> (value: Double, theta: [Double]) {
    let result = try estimate(of: theta)
    return (result.value, result.theta)
  }

  /// How far outside `range` (relative to its width) a start value must be for the clip to count
  /// as having decided it (`Estimate.saturated`).
  static let saturationMargin = 0.01

  /// The estimate, theta_pi, and the share of the start states whose Q^pi(s, pi(s)) lay outside
  /// `range` by more than `saturationMargin` of its width before clipping (NaN without starts):
  /// near 1, the estimate sits on the range's edge, and what it says is the clip's, not the
  /// data's (a saturated estimate cannot rank candidates).
  struct Estimate {
    var value: Double
    var theta: [Double]
    var saturated: Double
  }

  func estimate(of theta: [Double]) throws(LinearAlgebraError) -> Estimate {
    let (solution, starts) = try startValues(of: theta)
    guard !starts.isEmpty else { return Estimate(value: .nan, theta: solution, saturated: .nan) }
    let margin = Self.saturationMargin * (range.upperBound - range.lowerBound)
    var total = 0.0
    var outside = 0
    for value in starts {
      total += clip(value)
      if value > range.upperBound + margin || value < range.lowerBound - margin { outside += 1 }
    }
    let count = Double(starts.count)
    return Estimate(value: total / count, theta: solution, saturated: Double(outside) / count)
  }

  /// theta_pi and the unclipped Q^pi(s, pi(s)) at every start state.
  func startValues(of theta: [Double]) throws(LinearAlgebraError) -> (
    theta: [Double], starts: [Double]
  ) {
    let d = data.dimension
    var system = Matrix(rows: d, columns: d)
    var rhs = [Double](repeating: 0, count: d)
    let n = Double(max(data.count, 1))
    switch data.layout {
    case .pairs(let pairs, let nextStates, let features, let states, let actions):
      let policy = try Self.greedyStates(theta, features: features, states: states, actions: actions)
      let pairCount = states * actions
      // M X with M = (1/n) (diag(counts) - sum_i c_i e_cur e_next^T), X the pair features.
      switch features {
      case .identity:
        for i in 0..<data.count {
          let current = Int(pairs[i])
          system.storage[current + current * d] += 1 / n
          rhs[current] += data.rewards[i] / n
          let c = data.continuation[i]
          if c != 0 {
            let s = Int(nextStates[i])
            let next = s * actions + policy[s]
            system.storage[current + next * d] -= c / n
          }
        }
      case .matrix(let x):
        var mx = Matrix(rows: pairCount, columns: d)
        var h = [Double](repeating: 0, count: pairCount)
        for i in 0..<data.count {
          let current = Int(pairs[i])
          h[current] += data.rewards[i] / n
          for j in 0..<d { mx.storage[current + j * pairCount] += x.storage[current + j * pairCount] / n }
          let c = data.continuation[i]
          if c != 0 {
            let s = Int(nextStates[i])
            let next = s * actions + policy[s]
            for j in 0..<d {
              mx.storage[current + j * pairCount] -= c * x.storage[next + j * pairCount] / n
            }
          }
        }
        system = try LinearAlgebra.gemm(x, .transpose, mx, .none)
        rhs = try LinearAlgebra.gemv(x, .transpose, h)
      }
      if let model = try modelRewards() { rhs = model }
      for i in 0..<d { system.storage[i + i * d] += ridge }
      let solution = try LinearAlgebra.solve(system, Matrix(rows: d, columns: 1, columnMajor: rhs))
        .storage
      let qPi = try features.values(solution)
      guard case .pairs(let startPairs, _, _, _, _) = starts.layout else { return (solution, []) }
      return (
        solution,
        startPairs.map { pair in
          let s = Int(pair) / actions
          return qPi[s * actions + policy[s]]
        }
      )

    case .blocks(let phi, let ranges, let phiNext, let m):
      let actions = phi.count
      // Greedy actions at every row's next state.
      let weights = Matrix(rows: m, columns: actions, columnMajor: theta)
      let nextQ = try LinearAlgebra.gemm(phiNext, weights)
      var policy = [Int](repeating: 0, count: data.count)
      for i in 0..<data.count { policy[i] = Self.argmax(nextQ, row: i, actions: actions) }
      system = try Self.blockSystem(
        data: data, phi: phi, ranges: ranges, phiNext: phiNext, m: m, policy: policy,
        totals: crossTotals)
      if let model = try modelRewards() {
        rhs = model
      } else {
        rhs = try data.crossMoment(data.rewards)
      }
      for i in 0..<d { system.storage[i + i * d] += ridge }
      let solution = try LinearAlgebra.solve(system, Matrix(rows: d, columns: 1, columnMajor: rhs))
        .storage
      guard case .blocks(let startPhi, _, _, _) = starts.layout else { return (solution, []) }
      var values: [Double] = []
      let candidate = Matrix(rows: m, columns: actions, columnMajor: theta)
      let evaluated = Matrix(rows: m, columns: actions, columnMajor: solution)
      for block in startPhi where block.rows > 0 {
        let q = try LinearAlgebra.gemm(block, candidate)
        let v = try LinearAlgebra.gemm(block, evaluated)
        for i in 0..<block.rows {
          let a = Self.argmax(q, row: i, actions: actions)
          values.append(v.storage[i + a * block.rows])
        }
      }
      return (solution, values)
    }
  }

  /// How far the estimated Q^pi leaves the values the rewards allow on the evaluation rows:
  /// the largest distance of Q^pi(s_i, a_i) outside `range` over the rows of `data`, divided
  /// by the width of `range` (0 when every row's value is inside). `solution` is the theta_pi
  /// `value(of:)` returned.
  ///
  /// A reliability check of the estimate: the true Q^pi of any policy lies in the range, so
  /// a fixed point far outside it is the projected Bellman operator amplifying extrapolation
  /// (off-policy LSTD-Q is not a contraction), and clipping the start values hides that. On the
  /// gym families it is 0 for every tabular estimate and at most 0.19 for MountainCar's chosen
  /// candidates and fits (Fourier); on a CartPole family with Fourier features every selection
  /// candidate was at 1.75-1,600, and the estimates ranked them against the environment
  /// (tools/GYM_RESULTS.md).
  func rangeExcess(_ solution: [Double]) throws(LinearAlgebraError) -> Double {
    let width = max(range.upperBound - range.lowerBound, Double.leastNormalMagnitude)
    var worst = 0.0
    func visit(_ q: Double) {
      worst = max(worst, q - range.upperBound, range.lowerBound - q)
    }
    switch data.layout {
    case .pairs(let pairs, _, let features, _, _):
      let qPi = try features.values(solution)
      for i in 0..<data.count { visit(qPi[Int(pairs[i])]) }
    case .blocks(let phi, _, _, let m):
      let evaluated = Matrix(rows: m, columns: phi.count, columnMajor: solution)
      for (a, block) in phi.enumerated() where block.rows > 0 {
        for q in try LinearAlgebra.gemv(block, evaluated.column(a)) { visit(q) }
      }
    }
    return worst / width
  }

  /// The LSTD-Q matrix of action-block data without its ridge, for the policy whose action at
  /// row i's next state is `policy[i]`: the Gram blocks on the diagonal, minus
  /// (1/n) sum_i c_i phi(s_i) phi(s'_i)^T in block (a_i, policy[i]). The cross terms are one
  /// dgemm per (action, next action) over the continuing rows of the pair (`crossProduct`).
  /// With `totals` (`crossTotals` of the same data, which do not depend on the policy), the
  /// largest next-action group of each action is not summed: its term is the action's total
  /// minus the other groups' terms, which skips at least a 1/A share of the rows. Shapes:
  /// `phi[a]` is the n_a x m block of rows `ranges[a]`, `phiNext` n x m in row order, the result
  /// (A m) x (A m).
  static func blockSystem(
    data: RegressionData, phi: [Matrix], ranges: [Range<Int>], phiNext: Matrix, m: Int,
    policy: [Int], totals: [Matrix]? = nil
  ) throws(LinearAlgebraError) -> Matrix {
    let actions = phi.count
    let d = m * actions
    var system = Matrix(rows: d, columns: d)
    for a in 0..<actions {
      let gram = data.gram.blocks[a]
      for q in 0..<m {
        for p in 0..<m { system.storage[(a * m + p) + (a * m + q) * d] += gram.storage[p + q * m] }
      }
      // The continuing rows of the block, by the policy's action at their next state.
      var byNext = [[Int]](repeating: [], count: actions)
      for i in ranges[a] where data.continuation[i] != 0 { byNext[policy[i]].append(i) }
      var skipped = -1
      var remainder: Matrix?
      if let totals {
        skipped = 0
        for next in 1..<max(actions, 1) where byNext[next].count > byNext[skipped].count {
          skipped = next
        }
        remainder = totals[a]
      }
      func subtract(_ product: Matrix, next: Int) {
        for q in 0..<m {
          for p in 0..<m {
            system.storage[(a * m + p) + (next * m + q) * d] -= product.storage[p + q * m]
          }
        }
      }
      for next in 0..<actions where next != skipped && !byNext[next].isEmpty {
        let product = try crossProduct(
          data: data, block: phi[a], rows: ranges[a], phiNext: phiNext, m: m,
          selected: byNext[next])
        subtract(product, next: next)
        remainder?.storage.withUnsafeMutableBufferPointer { total in
          for index in total.indices { total[index] -= product.storage[index] }
        }
      }
      if let remainder, skipped >= 0 { subtract(remainder, next: skipped) }
    }
    return system
  }

  /// Per action a, (1/n) sum over the continuing rows i of block a of c_i phi(s_i) phi(s'_i)^T
  /// (m x m): the cross terms of every policy summed over the next actions (`blockSystem`).
  static func crossTotals(_ data: RegressionData) throws(LinearAlgebraError) -> [Matrix]? {
    guard case .blocks(let phi, let ranges, let phiNext, let m) = data.layout else { return nil }
    var totals: [Matrix] = []
    for a in phi.indices {
      let selected = ranges[a].filter { data.continuation[$0] != 0 }
      totals.append(
        selected.isEmpty
          ? Matrix(rows: m, columns: m)
          : try crossProduct(
            data: data, block: phi[a], rows: ranges[a], phiNext: phiNext, m: m,
            selected: selected))
    }
    return totals
  }

  /// (1/n) sum over `selected` (rows of `rows`, the range of `block`) of c_i phi(s_i) phi(s'_i)^T:
  /// the selected rows gathered column by column (each column of `block` and `phiNext` read in
  /// ascending rows), then one dgemm.
  static func crossProduct(
    data: RegressionData, block: Matrix, rows: Range<Int>, phiNext: Matrix, m: Int,
    selected: [Int]
  ) throws(LinearAlgebraError) -> Matrix {
    let n = Double(max(data.count, 1))
    let count = selected.count
    var left = Matrix(rows: count, columns: m)
    var right = Matrix(rows: count, columns: m)
    left.storage.withUnsafeMutableBufferPointer { l in
      right.storage.withUnsafeMutableBufferPointer { r in
        block.storage.withUnsafeBufferPointer { b in
          phiNext.storage.withUnsafeBufferPointer { p in
            data.continuation.withUnsafeBufferPointer { c in
              let offset = rows.lowerBound
              let blockRows = block.rows
              let nextRows = phiNext.rows
              for j in 0..<m {
                for (row, i) in selected.enumerated() {
                  l[row + j * count] = b[i - offset + j * blockRows] * (c[i] / n)
                  r[row + j * count] = p[i + j * nextRows]
                }
              }
            }
          }
        }
      }
    }
    return try LinearAlgebra.gemm(left, .transpose, right, .none)
  }

  func clip(_ value: Double) -> Double { min(max(value, range.lowerBound), range.upperBound) }

  static func argmax(_ q: Matrix, row: Int, actions: Int) -> Int {
    var best = 0
    for a in 1..<max(actions, 1) where q.storage[row + a * q.rows] > q.storage[row + best * q.rows] {
      best = a
    }
    return best
  }

  /// pi(s) for every state of a Discrete space (ties: the lowest action).
  static func greedyStates(_ theta: [Double], features: PairFeatures, states: Int, actions: Int)
    throws(LinearAlgebraError) -> [Int]
  {
    let q = try features.values(theta)
    return (0..<states).map { s in
      var best = 0
      for a in 1..<max(actions, 1) where q[s * actions + a] > q[s * actions + best] { best = a }
      return best
    }
  }
}
