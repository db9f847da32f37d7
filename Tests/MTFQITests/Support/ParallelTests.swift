import Foundation
import Testing

@testable import MTFQI

/// Support/Parallel.swift: results in index order whatever the scheduling; a throwing job's
/// error is the first in index order.
@Suite("Support: Parallel.map")
struct ParallelTests {
  struct Failure: Error, Equatable { var index: Int }

  @Test("Results come back in index order, for plain and throwing jobs")
  func order() throws {
    let squares = Parallel.map(37) { $0 * $0 }
    #expect(squares == (0..<37).map { $0 * $0 })
    let doubled = try Parallel.map(37) { index throws(Failure) in 2 * index }
    #expect(doubled == (0..<37).map { 2 * $0 })
    #expect(Parallel.map(0) { $0 }.isEmpty)
  }

  @Test("The error of the first failing index is thrown, every run")
  func firstError() {
    for _ in 0..<20 {
      do {
        _ = try Parallel.map(16) { index throws(Failure) -> Int in
          if index == 5 || index == 11 { throw Failure(index: index) }
          return index
        }
        Issue.record("no error thrown")
      } catch {
        #expect(error == Failure(index: 5))
      }
    }
  }
}
