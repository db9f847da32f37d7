import Foundation
import Numerics
import Testing

@testable import MTFQI

@Suite("Synthetic: the low-rank family and its exact values")
struct SyntheticFamilyTests {
  static let objectives: [SyntheticParameters.Objective] = [
    .discounted(gamma: 0.95), .discounted(gamma: 0), .finiteHorizon(horizon: 5),
  ]

  @Test("P rows are distributions (sum 1 within 1e-12)")
  func transitionRows() throws {
    let family = try LowRankMDPFamily(parameters: SyntheticFixtures.small())
    let s = family.states
    for pair in 0..<(s * family.actions) {
      let row = family.transition[(pair * s)..<((pair + 1) * s)]
      #expect(row.allSatisfy { $0 >= 0 })
      #expect(row.reduce(0, +).isApproximatelyEqual(to: 1, absoluteTolerance: 1e-12))
    }
    for pair in 0..<(s * family.actions) {
      let phi = family.phi[(pair * family.rank)..<((pair + 1) * family.rank)]
      #expect(phi.reduce(0, +).isApproximatelyEqual(to: 1, absoluteTolerance: 1e-12))
    }
    #expect(
      family.startDistribution.reduce(0, +).isApproximatelyEqual(to: 1, absoluteTolerance: 1e-12))
    for state in 0..<s {
      let policy = family.behaviorPolicy[(state * family.actions)..<((state + 1) * family.actions)]
      #expect(policy.reduce(0, +).isApproximatelyEqual(to: 1, absoluteTolerance: 1e-12))
    }
  }

  @Test(
    "Q* satisfies its Bellman optimality equation to 1e-9 for every task", arguments: objectives)
  func bellman(objective: SyntheticParameters.Objective) throws {
    let family = try LowRankMDPFamily(parameters: SyntheticFixtures.small(objective: objective))
    let s = family.states
    let a = family.actions
    let pairs = s * a
    #expect(family.heldOutTasks.count == 2)
    for task in family.trainingTasks + family.heldOutTasks {
      // The check uses the dense P, independent of the low-rank backups of the solver.
      func backup(_ nextValues: [Double], discount: Double, pair: Int) -> Double {
        var expected = 0.0
        for next in 0..<s { expected += family.transition[pair * s + next] * nextValues[next] }
        return task.rewards[pair] + discount * expected
      }
      func greedy(_ q: ArraySlice<Double>) -> [Double] {
        let base = q.startIndex
        return (0..<s).map { state in (0..<a).map { q[base + state * a + $0] }.max() ?? 0 }
      }
      switch objective {
      case .discounted(let gamma):
        let v = greedy(task.qStar[...])
        #expect(v == task.vStar)
        var worst = 0.0
        for pair in 0..<pairs {
          worst = max(worst, abs(task.qStar[pair] - backup(v, discount: gamma, pair: pair)))
        }
        #expect(worst < 1e-9, "task \(task.name): Bellman residual \(worst)")
      case .finiteHorizon(let horizon):
        var worst = 0.0
        for h in 0..<horizon {
          let next =
            h + 1 < horizon
            ? greedy(task.qStar[((h + 1) * pairs)..<((h + 2) * pairs)])
            : [Double](repeating: 0, count: s)
          for pair in 0..<pairs {
            worst = max(
              worst, abs(task.qStar[h * pairs + pair] - backup(next, discount: 1, pair: pair)))
          }
          #expect(
            greedy(task.qStar[(h * pairs)..<((h + 1) * pairs)])
              == Array(task.vStar[(h * s)..<((h + 1) * s)]))
        }
        #expect(worst < 1e-9, "task \(task.name): Bellman residual \(worst)")
      }
    }
  }

  @Test(
    "U is orthogonal, B*^T x = phi*, and Q* lies in the span of B*^T x (residual < 1e-9)",
    arguments: objectives)
  func realizability(objective: SyntheticParameters.Objective) throws {
    let family = try LowRankMDPFamily(parameters: SyntheticFixtures.small(objective: objective))
    let d = family.dim
    let k = family.rank
    let pairs = family.states * family.actions
    let u = Matrix(rows: d, columns: d, rowMajor: family.rotation)
    let identityError =
      try LinearAlgebra.gemm(u, .transpose, u, .none).storage.enumerated().map {
        abs($0.element - ($0.offset % (d + 1) == 0 ? 1 : 0))
      }.max() ?? 0
    #expect(identityError < 1e-12)

    let x = Matrix(rows: pairs, columns: d, rowMajor: family.features)
    let b = Matrix(rows: d, columns: k, rowMajor: family.representation)
    let projected = try LinearAlgebra.gemm(x, b)  // (S A) x k: row (s, a) is B*^T x(s, a)
    let phiError = zip(projected.rowMajorValues(), family.phi).map { abs($0 - $1) }.max() ?? 0
    #expect(phiError < 1e-12)

    let steps = family.parameters.horizon ?? 1
    var targets: [Double] = []  // column-major: one column per (task, step)
    for task in family.trainingTasks + family.heldOutTasks { targets += task.qStar }
    let q = Matrix(rows: pairs, columns: targets.count / pairs, columnMajor: targets)
    #expect(q.columns == steps * 5)
    let heads = try LinearAlgebra.leastSquares(projected, q)
    let fitted = try LinearAlgebra.gemm(projected, heads)
    let residual = zip(fitted.storage, q.storage).map { abs($0 - $1) }.max() ?? 0
    #expect(residual < 1e-9, "largest least-squares residual \(residual)")
  }

  @Test("Changing T changes neither the shared structure nor any task's theta and Q*")
  func heldOutIndependentOfT() throws {
    var few = SyntheticFixtures.small()
    few.tasks = 2
    var many = few
    many.tasks = 7
    let a = try LowRankMDPFamily(parameters: few)
    let b = try LowRankMDPFamily(parameters: many)
    #expect(a.transition == b.transition && a.features == b.features)
    for (x, y) in zip(a.heldOutTasks, b.heldOutTasks) {
      #expect(x.name == y.name && x.theta == y.theta && x.qStar == y.qStar && x.vStar == y.vStar)
    }
    for (x, y) in zip(a.trainingTasks, b.trainingTasks) {
      #expect(x.theta == y.theta && x.qStar == y.qStar)
    }
    // Held-out tasks do not reuse a training task's stream.
    #expect(a.heldOutTasks[0].theta != a.trainingTasks[0].theta)
  }

  @Test("Task names are zero-padded to two digits, more when needed")
  func taskNames() {
    #expect(SyntheticTask.name(heldOut: false, index: 3, count: 8) == "task03")
    #expect(SyntheticTask.name(heldOut: true, index: 0, count: 1) == "new00")
    #expect(SyntheticTask.name(heldOut: false, index: 7, count: 100) == "task07")
    #expect(SyntheticTask.name(heldOut: false, index: 7, count: 101) == "task007")
    #expect(SyntheticTask.name(heldOut: false, index: 100, count: 101) == "task100")
  }

  @Test("The sampling distribution mu sums to one; episodic occupancies follow P")
  func samplingDistribution() throws {
    for sampling in SyntheticParameters.Sampling.allCases {
      var p = SyntheticFixtures.small(sampling: sampling)
      p.episodeLength = 4
      p.epsilon = 0.3
      let family = try LowRankMDPFamily(parameters: p)
      let (mu, perStep) = family.samplingDistribution(samples: 10)
      #expect(mu.reduce(0, +).isApproximatelyEqual(to: 1, absoluteTolerance: 1e-12))
      if sampling == .episodes {
        let steps = try #require(perStep)
        let pairs = family.states * family.actions
        #expect(steps.count == 4 * pairs)
        // 10 rows of episodes of 4: steps 0 and 1 have 3 rows, steps 2 and 3 have 2.
        for pair in 0..<pairs {
          let expected =
            (3 * steps[pair] + 3 * steps[pairs + pair] + 2 * steps[2 * pairs + pair]
              + 2 * steps[3 * pairs + pair]) / 10
          #expect(mu[pair].isApproximatelyEqual(to: expected, absoluteTolerance: 1e-15))
        }
      } else {
        #expect(perStep == nil)
      }
    }
  }
}
