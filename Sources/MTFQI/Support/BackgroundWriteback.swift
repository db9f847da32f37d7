import Foundation

/// Writes a file's data to disk on a background thread while the file is still being written:
/// a descriptor of its own, checked every `interval`, gets an `fdatasync` whenever the file has
/// grown by `step` bytes since the last one (so an idle or small file costs no disk flushes),
/// until `stop()`.
///
/// Why: an output is renamed over the existing file when it is finished (`AtomicOutput`), and
/// ext4 (auto_da_alloc) writes the new file's data out inside that rename, so that a crash
/// cannot leave an empty file under the old name. For a store of tens of MB the rename then
/// waits on the disk for tens of milliseconds at the very end of the run. Writing the data out
/// as it is produced moves that wait off the critical path; the rename is still what publishes
/// the file. Failures are ignored: this only changes when data reach the disk, never what is
/// written.
final class BackgroundWriteback: @unchecked Sendable {
  private let lock = NSLock()
  private var stopped = false
  private let wake = DispatchSemaphore(value: 0)

  /// Starts on `path` (a file that exists); nil when it cannot be opened.
  init?(path: String, interval: TimeInterval = 0.005, step: Int = 4 << 20) {
    let descriptor = open(path, O_WRONLY | O_CLOEXEC)
    guard descriptor >= 0 else { return nil }
    let thread = Thread { [self] in
      var synced = 0
      var status = stat()
      while !isStopped {
        if fstat(descriptor, &status) == 0, Int(status.st_size) - synced >= step {
          synced = Int(status.st_size)
          _ = fdatasync(descriptor)
        }
        _ = wake.wait(timeout: .now() + interval)
      }
      close(descriptor)
    }
    thread.name = "mtfqi-writeback"
    thread.start()
  }

  private var isStopped: Bool {
    lock.lock()
    defer { lock.unlock() }
    return stopped
  }

  /// Asks the thread to finish after its current pass; does not wait for it. The owner must
  /// call it (the running thread keeps this object alive); `AtomicOutput` does on commit and
  /// abort.
  func stop() {
    lock.lock()
    stopped = true
    lock.unlock()
    wake.signal()
  }
}
