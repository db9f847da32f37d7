import Foundation

/// One process-wide lock for HDF5 calls made from several threads at once (the coverage
/// stage scans tasks in parallel): holding it, one thread at a time is inside the library, so
/// the callers need not depend on how the installed library was built.
enum HDF5Lock {
  private static let lock = NSLock()

  /// `body` holding the lock.
  static func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
    lock.lock()
    defer { lock.unlock() }
    return try body()
  }
}
