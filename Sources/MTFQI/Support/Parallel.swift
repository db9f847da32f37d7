import Foundation

/// Runs independent jobs on the global concurrent queue (one per core) and returns their
/// results in index order.
enum Parallel {
  static func map<T: Sendable>(_ count: Int, _ body: @Sendable (Int) -> T) -> [T] {
    if count == 0 { return [] }
    if count == 1 { return [body(0)] }
    let slots = Slots<T>(count: count)
    DispatchQueue.concurrentPerform(iterations: count) { index in
      slots.set(index, body(index))
    }
    return slots.values()
  }

  /// `map` for jobs that throw: every job runs; the first error in index order is rethrown
  /// (so which error surfaces does not depend on scheduling).
  static func map<T: Sendable, E: Error>(
    _ count: Int, throwing body: @Sendable (Int) throws(E) -> T
  ) throws(E) -> [T] {
    let results = map(count) { index in Result { () throws(E) -> T in try body(index) } }
    return try results.map { result throws(E) in try result.get() }
  }

  private final class Slots<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [T?]

    init(count: Int) { storage = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ value: T) {
      lock.lock()
      storage[index] = value
      lock.unlock()
    }

    func values() -> [T] {
      lock.lock()
      defer { lock.unlock() }
      return storage.map { value in
        guard let value else { preconditionFailure("Parallel.map: a job produced no result") }
        return value
      }
    }
  }
}
