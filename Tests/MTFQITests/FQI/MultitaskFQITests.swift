import Foundation
import Testing

@testable import MTFQI

/// Multitask FQI against the exact truth of the synthetic family (in-process, no files).
@Suite("FQI: multitask fitted Q-iteration on the synthetic family", .serialized)
struct MultitaskFQITests {
  @Test("sin(theta) between B-hat and B* falls as n and as T grow")
  func subspaceDistanceFalls() throws {
    func distance(tasks: Int, samples: Int) throws -> Double {
      let family = try LowRankMDPFamily(
        parameters: TrainFixtures.parameters(tasks: tasks, samples: samples, seed: 1))
      let fit = try TrainFixtures.fit(family, iterations: 15, singleTask: false)
      return try LinearAlgebra.subspaceDistance(
        fit.multitask.representations[0], TrainFixtures.bStar(family))
    }
    let byN = try [250, 1000, 4000].map { try distance(tasks: 8, samples: $0) }
    let byT = try [5, 10, 20].map { try distance(tasks: $0, samples: 1000) }
    #expect(byN[0] > byN[1] && byN[1] > byN[2], "sin theta by n = 250, 1000, 4000: \(byN)")
    #expect(byT[0] > byT[1] && byT[1] > byT[2], "sin theta by T = 5, 10, 20: \(byT)")
    print("sin theta by n = 250, 1000, 4000 (T = 8): \(byN); by T = 5, 10, 20 (n = 1000): \(byT)")
  }

  @Test("Warm starts: after the first iterations ALS needs few sweeps")
  func warmStartsNeedFewSweeps() throws {
    let family = try LowRankMDPFamily(parameters: TrainFixtures.parameters(tasks: 8, samples: 1000))
    let fit = try TrainFixtures.fit(family, iterations: 40, singleTask: false)
    let late = fit.multitask.log.suffix(10).map(\.sweeps)
    #expect(late.allSatisfy { $0 <= 5 }, "sweeps in the last iterations: \(late)")
    // The change in Q contracts like gamma^i once the representation settles.
    let changes = fit.multitask.log.map { NumberText.mean($0.qChanges) }
    #expect(changes[39] < 0.05 * changes[5], "changes: \(changes)")
  }
}
