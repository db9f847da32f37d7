import Foundation

/// Exact optimal values of one task of the low-rank family, using P = Phi Nu so that a Bellman
/// backup costs O(S A k + k S) instead of O(S^2 A).
enum OptimalValues {
  /// The sup-norm change of V at which discounted value iteration stops: 1e-12, or a few ulps
  /// of the largest |V| when rounding makes 1e-12 unreachable (V of order 1e4).
  static let tolerance = 1e-12

  struct Result {
    /// (S, A) or (H, S, A).
    var q: [Double]
    /// (S,) or (H, S).
    var v: [Double]
    var iterations: Int
    var finalChange: Double
  }

  static func solve(
    rewards: [Double], phi: [Double], nu: [Double], states s: Int, actions a: Int, rank k: Int,
    objective: SyntheticParameters.Objective, taskName: String
  ) throws(SyntheticError) -> Result {
    let pairs = s * a
    var expected = [Double](repeating: 0, count: k)
    /// q = r + discount * Phi (Nu v), then the greedy values.
    func backup(_ v: [Double], discount: Double, q: inout [Double], vNext: inout [Double]) {
      for j in 0..<k {
        var sum = 0.0
        for next in 0..<s { sum += nu[j * s + next] * v[next] }
        expected[j] = sum
      }
      for pair in 0..<pairs {
        var sum = 0.0
        for j in 0..<k { sum += phi[pair * k + j] * expected[j] }
        q[pair] = rewards[pair] + discount * sum
      }
      for state in 0..<s {
        var best = q[state * a]
        for action in 1..<a where q[state * a + action] > best { best = q[state * a + action] }
        vNext[state] = best
      }
    }

    switch objective {
    case .finiteHorizon(let horizon):
      // Q_h = r + P V_{h+1}, V_H = 0, backward from h = H - 1.
      var q = [Double](repeating: 0, count: horizon * pairs)
      var v = [Double](repeating: 0, count: horizon * s)
      var nextV = [Double](repeating: 0, count: s)
      var stepQ = [Double](repeating: 0, count: pairs)
      var stepV = [Double](repeating: 0, count: s)
      for h in stride(from: horizon - 1, through: 0, by: -1) {
        backup(nextV, discount: 1, q: &stepQ, vNext: &stepV)
        q.replaceSubrange((h * pairs)..<((h + 1) * pairs), with: stepQ)
        v.replaceSubrange((h * s)..<((h + 1) * s), with: stepV)
        nextV = stepV
      }
      return Result(q: q, v: v, iterations: horizon, finalChange: 0)

    case .discounted(let gamma):
      // Rewards lie in [0, 1], so |V*| <= 1 / (1 - gamma) and value iteration from 0 needs about
      // log(tolerance (1 - gamma)) / log(gamma) sweeps; allow ten times that.
      var v = [Double](repeating: 0, count: s)
      var vNext = [Double](repeating: 0, count: s)
      var q = [Double](repeating: 0, count: pairs)
      let needed = gamma > 0 ? log(tolerance * (1 - gamma)) / log(gamma) : 1
      let budget = Int(min(1e8, 10 * needed.rounded(.up) + 100))
      var change = Double.infinity
      var iterations = 0
      while iterations < budget {
        backup(v, discount: gamma, q: &q, vNext: &vNext)
        iterations += 1
        change = 0
        var largest = 0.0
        for state in 0..<s {
          change = max(change, (vNext[state] - v[state]).magnitude)
          largest = max(largest, vNext[state].magnitude)
        }
        swap(&v, &vNext)
        if change <= max(tolerance, 8 * largest.ulp) { break }
      }
      if change > max(tolerance, 8 * (v.map(\.magnitude).max() ?? 0).ulp) {
        throw SyntheticError.valueIterationDidNotConverge(
          task: taskName, iterations: iterations, change: change)
      }
      // One more backup so that q is the backup of the final v (and v = max_a q).
      backup(v, discount: gamma, q: &q, vNext: &vNext)
      return Result(q: q, v: vNext, iterations: iterations + 1, finalChange: change)
    }
  }
}
