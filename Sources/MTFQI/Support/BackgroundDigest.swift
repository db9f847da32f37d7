import Foundation

/// Computes a file's sha256 on a background thread, so hashing a large input overlaps with the
/// work that reads it; `wait()` returns the hex digest (or the read error).
public final class BackgroundDigest: @unchecked Sendable {
  private let done = DispatchSemaphore(value: 0)
  private var result: Result<String, MTFQIError> = .failure(.io(path: "", message: "not computed"))

  public init(path: String) {
    let thread = Thread { [self] in
      do throws(MTFQIError) {
        result = .success(try SHA256Digest.ofFile(path))
      } catch {
        result = .failure(error)
      }
      done.signal()
    }
    thread.start()
  }

  /// Blocks until the digest is ready. Call once.
  public func wait() throws(MTFQIError) -> String {
    done.wait()
    return try result.get()
  }
}
