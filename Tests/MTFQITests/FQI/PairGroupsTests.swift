import Foundation
import Testing

@testable import MTFQI

/// The grouped (pair, next state) sufficient statistics of Discrete problems against the
/// row-by-row target pass they replace.
@Suite("FQI: grouped target statistics of Discrete problems")
struct PairGroupsTests {
  struct Rows {
    var pairs: [Int32] = []
    var next: [Int32] = []
    var rewards: [Double] = []
    var continuation: [Double] = []
  }

  /// n random rows over S states and A actions; about one in ten terminated.
  static func rows(n: Int, states: Int, actions: Int, discount: Double, seed: UInt64) -> Rows {
    var random = Xoshiro256StarStar(seed: seed)
    var rows = Rows()
    for _ in 0..<n {
      let s = Int(random.next() % UInt64(states))
      let a = Int(random.next() % UInt64(actions))
      rows.pairs.append(Int32(s * actions + a))
      rows.rewards.append(Double(s) - 0.5 * Double(a) + 0.3 * random.nextUniform())
      if random.nextUniform() < 0.1 {
        rows.next.append(-1)
        rows.continuation.append(0)
      } else {
        rows.next.append(Int32(random.next() % UInt64(states)))
        rows.continuation.append(discount)
      }
    }
    return rows
  }

  static func problem(_ rows: Rows, states: Int, actions: Int, grouped: Bool) throws
    -> RegressionData
  {
    let groups =
      grouped
      ? PairGroups.make(
        pairs: rows.pairs, nextStates: rows.next, rewards: rows.rewards,
        continuation: rows.continuation, states: states, actions: actions) : nil
    let counts = RegressionData.pairCounts(rows.pairs, pairCount: states * actions)
    let features = PairFeatures.identity(dimension: states * actions)
    return RegressionData(
      task: "t", rewards: rows.rewards, continuation: rows.continuation,
      layout: .pairs(
        pairs: rows.pairs, nextStates: rows.next, features: features, states: states,
        actions: actions),
      gram: try RegressionData.pairGram(counts: counts, rows: rows.rewards.count, features: features),
      pairGroups: groups)
  }

  @Test("Grouped and row-by-row passes give the same targets' cross moment, squares and max |V|")
  func groupedEqualsRows() throws {
    let (states, actions) = (12, 3)
    let rows = Self.rows(n: 20_000, states: states, actions: actions, discount: 0.9, seed: 7)
    let grouped = try Self.problem(rows, states: states, actions: actions, grouped: true)
    let plain = try Self.problem(rows, states: states, actions: actions, grouped: false)
    let groups = try #require(grouped.pairGroups, "20000 rows over 12 x 3 x 13 slots group")
    #expect(groups.count <= states * actions * (states + 1))
    #expect(groups.counts.reduce(0, +) == 20_000)
    #expect(plain.pairGroups == nil)

    var random = Xoshiro256StarStar(seed: 3)
    let theta = (0..<(states * actions)).map { _ in 10 * random.nextUniform() - 5 }
    for next in [nil, theta] {
      let a = try RegressionData.targetStatistics([grouped], nextThetas: [next])[0]
      let b = try RegressionData.targetStatistics([plain], nextThetas: [next])[0]
      let scale = b.cross.map(\.magnitude).max() ?? 1
      for (x, y) in zip(a.cross, b.cross) {
        #expect((x - y).magnitude <= 1e-12 * scale, "cross moment \(x) vs \(y)")
      }
      #expect((a.squares - b.squares).magnitude <= 1e-12 * b.squares)
      #expect(a.maxAbsNextValue == b.maxAbsNextValue)
      if next != nil { #expect(b.maxAbsNextValue > 0) }
    }
  }

  @Test("Rows are not grouped when it would not pay or not be exact")
  func fallsBackToRows() {
    let (states, actions) = (12, 3)
    var rows = Self.rows(n: 20_000, states: states, actions: actions, discount: 0.9, seed: 1)
    // Two continuation values among bootstrapping rows: the group formula needs one.
    if let index = rows.continuation.firstIndex(of: 0.9) { rows.continuation[index] = 0.5 }
    #expect(
      PairGroups.make(
        pairs: rows.pairs, nextStates: rows.next, rewards: rows.rewards,
        continuation: rows.continuation, states: states, actions: actions) == nil)
    // More (pair, next state) slots than a few times the rows: the dense table is not built.
    let sparse = Self.rows(n: 2_000, states: 200, actions: 4, discount: 0.9, seed: 2)
    #expect(
      PairGroups.make(
        pairs: sparse.pairs, nextStates: sparse.next, rewards: sparse.rewards,
        continuation: sparse.continuation, states: 200, actions: 4) == nil)
  }
}
