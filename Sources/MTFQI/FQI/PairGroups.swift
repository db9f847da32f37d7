/// The rows of a Discrete problem grouped by (pair s * A + a, next state): the sufficient
/// statistics of fitted Q-iteration's targets when states are finite.
///
/// Every row of a group has the same target up to its reward: y_i = r_i + c * V(s'), with
/// c = `continuation` when the row bootstraps and no V term when it does not (`nextStates[g]`
/// = -1). So one iteration's per-pair target sums and sum of squares follow exactly from each
/// group's row count n_g, reward sum R_g and reward square sum RR_g:
///
///     sum_g y = R_g + n_g c v,    sum_g y^2 = RR_g + c v (2 R_g + n_g c v),    v = V(s'_g)
///
/// which makes an iteration cost one pass over the groups instead of the rows (at most
/// S * A * (S + 1) groups, however many rows). The groups are in (pair, next state) order and
/// each group's sums run in row order, so results are deterministic. The sums differ from a
/// row-by-row pass only by floating-point reassociation (relative 1e-15).
struct PairGroups: Sendable {
  /// Pair index s * A + a of each group.
  var pairs: [Int32]
  /// Next state (0-based) of each group, -1 for rows that do not bootstrap.
  var nextStates: [Int32]
  var counts: [Double]
  var rewardSums: [Double]
  var rewardSquares: [Double]
  /// gamma (discounted mode) or 1 (finite horizon): the continuation of every bootstrapping row.
  var continuation: Double

  var count: Int { pairs.count }

  /// Groups the rows when that pays: when every bootstrapping row has the same continuation,
  /// and the dense (pair, next state) table is no larger than a few times the rows (so memory
  /// stays proportional to the data) and there are clearly fewer groups than rows. Nil means
  /// "use the rows".
  static func make(
    pairs: [Int32], nextStates: [Int32], rewards: [Double], continuation: [Double],
    states: Int, actions: Int
  ) -> PairGroups? {
    let n = rewards.count
    let slots = states * actions * (states + 1)
    guard n >= 1024, states > 0, actions > 0, slots <= 4 * n else { return nil }
    var shared = 0.0
    for c in continuation where c != 0 {
      if shared == 0 { shared = c } else if c != shared { return nil }
    }
    // Slot of a row: pair * (S + 1) + (next + 1); next = -1 when the row does not bootstrap.
    var slotCounts = [Double](repeating: 0, count: slots)
    var slotSums = [Double](repeating: 0, count: slots)
    var slotSquares = [Double](repeating: 0, count: slots)
    let stride = states + 1
    rewards.withUnsafeBufferPointer { r in
      continuation.withUnsafeBufferPointer { c in
        pairs.withUnsafeBufferPointer { p in
          nextStates.withUnsafeBufferPointer { nx in
            for i in 0..<n {
              let next = c[i] != 0 ? Int(nx[i]) : -1
              let slot = Int(p[i]) * stride + next + 1
              slotCounts[slot] += 1
              slotSums[slot] += r[i]
              slotSquares[slot] += r[i] * r[i]
            }
          }
        }
      }
    }
    let used = slotCounts.reduce(0) { $0 + ($1 > 0 ? 1 : 0) }
    guard used * 2 <= n else { return nil }
    var groups = PairGroups(
      pairs: [], nextStates: [], counts: [], rewardSums: [], rewardSquares: [],
      continuation: shared)
    groups.pairs.reserveCapacity(used)
    groups.nextStates.reserveCapacity(used)
    groups.counts.reserveCapacity(used)
    groups.rewardSums.reserveCapacity(used)
    groups.rewardSquares.reserveCapacity(used)
    for slot in 0..<slots where slotCounts[slot] > 0 {
      groups.pairs.append(Int32(slot / stride))
      groups.nextStates.append(Int32(slot % stride - 1))
      groups.counts.append(slotCounts[slot])
      groups.rewardSums.append(slotSums[slot])
      groups.rewardSquares.append(slotSquares[slot])
    }
    return groups
  }

  /// Per-pair target sums (added into `sums`), the targets' sum of squares and the largest
  /// |V| bootstrapped before clipping (`maxAbsNext`) and after it (`maxAbsUsed`, what the
  /// targets hold), for state values `values` (nil: y = r) clipped to `clip` (none when nil);
  /// with the rows clipped and the rows that bootstrapped.
  func accumulate(values: [Double]?, into sums: inout [Double], clip: ClosedRange<Double>? = nil)
    -> (
      squares: Double, maxAbsNext: Double, maxAbsUsed: Double, clipped: Double,
      bootstrapped: Double
    )
  {
    var squares = 0.0
    var maxAbsNext = 0.0
    var maxAbsUsed = 0.0
    var clipped = 0.0
    var bootstrapped = 0.0
    let low = clip?.lowerBound ?? -Double.infinity
    let high = clip?.upperBound ?? Double.infinity
    let c = continuation
    sums.withUnsafeMutableBufferPointer { h in
      for g in 0..<count {
        var sum = rewardSums[g]
        var square = rewardSquares[g]
        let next = Int(nextStates[g])
        if next >= 0, let values {
          var v = values[next]
          maxAbsNext = max(maxAbsNext, v.magnitude)
          bootstrapped += counts[g]
          if v < low || v > high {
            v = min(max(v, low), high)
            clipped += counts[g]
          }
          maxAbsUsed = max(maxAbsUsed, v.magnitude)
          let cv = c * v
          sum += counts[g] * cv
          square += cv * (2 * rewardSums[g] + counts[g] * cv)
        }
        h[Int(pairs[g])] += sum
        squares += square
      }
    }
    return (squares, maxAbsNext, maxAbsUsed, clipped, bootstrapped)
  }
}
