import Foundation

/// The target policy of one task, at every step it has: uniform, or greedy with respect to a
/// trained model's Q_{t,h}(s, a) = psi(s, a)^T B_h w_{t,h}.
///
/// Steps: a discounted model has one step (h = 0); a finite-horizon model one per step. A row
/// at step h uses pi_h for its own action (importance weights) and pi_{h+1} for its next state
/// (Sigma_pi, the bootstrap rate); steps outside 0..<steps are clamped into it. Greedy ties go
/// to the lowest action index.
struct TargetPolicy: Sendable {
  enum Kind: Sendable {
    case uniform
    /// Discrete observations: the greedy action index of every state, per step ([h][s]).
    case greedyTable([[Int32]])
    /// Block feature maps on continuous observations: Theta_h (m x A, column a = block a of
    /// B_h w_{t,h}); Q(s, .) = phi(s)^T Theta_h.
    case greedyLinear([Matrix])
  }

  let actions: Int
  let kind: Kind

  static func uniform(actions: Int) -> TargetPolicy {
    TargetPolicy(actions: actions, kind: .uniform)
  }

  var isUniform: Bool { if case .uniform = kind { true } else { false } }

  var steps: Int {
    switch kind {
    case .uniform: 1
    case .greedyTable(let table): table.count
    case .greedyLinear(let thetas): thetas.count
    }
  }

  /// The step index for a row's step value (clamped into 0..<steps).
  @inline(__always)
  func stepIndex(_ step: Int64) -> Int {
    let count = steps
    if count == 1 || step <= 0 { return 0 }
    return step >= Int64(count) ? count - 1 : Int(step)
  }

  /// The greedy action of state index `state` at step index `h` (greedyTable only).
  @inline(__always)
  func tableAction(state: Int, step h: Int) -> Int {
    guard case .greedyTable(let table) = kind else { return 0 }
    return Int(table[h][state])
  }

  /// pi(a | s) for a Discrete state index at step index `h`.
  @inline(__always)
  func probability(state: Int, action: Int, step h: Int) -> Double {
    switch kind {
    case .uniform: return 1 / Double(actions)
    case .greedyTable(let table): return Int(table[h][state]) == action ? 1 : 0
    case .greedyLinear: preconditionFailure("probability(state:) needs a Discrete policy table")
    }
  }

  /// Greedy actions for the rows of `phi` (n x m state features), row r at step index
  /// `steps[r]` (greedyLinear only).
  func greedyActions(phi: Matrix, stepIndices: [Int]) throws(LinearAlgebraError) -> [Int32] {
    guard case .greedyLinear(let thetas) = kind else { return [] }
    let n = phi.rows
    var result = [Int32](repeating: 0, count: n)
    if n == 0 { return result }
    func argmax(_ q: Matrix, row: Int) -> Int32 {
      var best = 0
      var bestValue = -Double.infinity
      for a in 0..<actions {
        let value = q.storage[row + a * q.rows]
        if value > bestValue {
          bestValue = value
          best = a
        }
      }
      return Int32(best)
    }
    if thetas.count == 1 {
      let q = try LinearAlgebra.gemm(phi, thetas[0])
      for r in 0..<n { result[r] = argmax(q, row: r) }
      return result
    }
    var rowsOfStep: [Int: [Int]] = [:]
    for r in 0..<n { rowsOfStep[stepIndices[r], default: []].append(r) }
    for (h, rows) in rowsOfStep.sorted(by: { $0.key < $1.key }) {
      let subset = CoverageMath.gatherRows(phi, rows)
      let q = try LinearAlgebra.gemm(subset, thetas[h])
      for (i, r) in rows.enumerated() { result[r] = argmax(q, row: i) }
    }
    return result
  }

  /// The greedy policy of model task `modelTask` for data with this feature map.
  ///
  /// Discrete observations give a table (Q evaluated on every (s, a) pair once); continuous
  /// observations need a block map (raw or Fourier) and give per-step Theta_h.
  static func greedy(model: TrainedModel, modelTask t: Int) throws(CoverageError) -> TargetPolicy {
    let map = model.featureMap
    let actions = map.actionCount
    var thetas: [[Double]] = []
    for h in 0..<model.steps {
      do {
        thetas.append(try model.theta(task: t, step: h))
      } catch {
        throw .linearAlgebra(
          context: "greedy policy of task \(model.taskNames[t]), step \(h)", error: error)
      }
    }
    switch map.structure {
    case .pairs(let states, _):
      // Q over all pairs: X theta (a table) or theta itself (one-hot).
      var table: [[Int32]] = []
      for theta in thetas {
        let q: [Double]
        if let x = map.pairMatrix() {
          do {
            q = try LinearAlgebra.gemv(x, theta)
          } catch {
            throw .linearAlgebra(
              context: "greedy policy of task \(model.taskNames[t])", error: error)
          }
        } else {
          q = theta
        }
        table.append(greedyOfPairs(q, states: states, actions: actions))
      }
      return TargetPolicy(actions: actions, kind: .greedyTable(table))
    case .actionBlocks(_, let m):
      let blockThetas = thetas.map { theta in
        Matrix(rows: m, columns: actions, columnMajor: theta)
      }
      if case .discrete(let n, let start) = map.observationSpace {
        // Evaluate phi on every state once and tabulate.
        let states = Int(n)
        let observations = (0..<states).map { Double(start + Int64($0)) }
        let phi = map.stateFeatures(observations, rows: states)
        var table: [[Int32]] = []
        for theta in blockThetas {
          let q: Matrix
          do {
            q = try LinearAlgebra.gemm(phi, theta)
          } catch {
            throw .linearAlgebra(
              context: "greedy policy of task \(model.taskNames[t])", error: error)
          }
          var row = [Double](repeating: 0, count: states * actions)
          for s in 0..<states {
            for a in 0..<actions { row[s * actions + a] = q[s, a] }
          }
          table.append(greedyOfPairs(row, states: states, actions: actions))
        }
        return TargetPolicy(actions: actions, kind: .greedyTable(table))
      }
      return TargetPolicy(actions: actions, kind: .greedyLinear(blockThetas))
    }
  }

  /// argmax_a of a row-major S x A table, first maximum.
  static func greedyOfPairs(_ q: [Double], states: Int, actions: Int) -> [Int32] {
    (0..<states).map { s in
      var best = 0
      var bestValue = -Double.infinity
      for a in 0..<actions where q[s * actions + a] > bestValue {
        bestValue = q[s * actions + a]
        best = a
      }
      return Int32(best)
    }
  }
}
