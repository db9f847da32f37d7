import Foundation

/// Writes an output file so that a failed or killed run never leaves a partial file and never
/// damages an existing one: the content goes to a temporary file beside the target
/// (`.NAME.tmp-PID`, same directory so `rename(2)` is atomic) which is renamed over the target
/// only by `commit()`. `abort()` (or `deinit` without commit) removes the temporary.
///
/// Every output goes through here, so here are also: the same-path guard (an output that is an
/// input of the run is refused, `OutputGuard`), one writer at a time (`OutputLock`, held from
/// `init` to `commit()`/`abort()`), and signal hygiene (the temporary path is registered with
/// the signal handlers, which remove it on SIGTERM, SIGINT, SIGHUP and fatal signals).
public final class AtomicOutput {
  /// The final path.
  public let destination: String
  /// Where the content is written until `commit()`.
  public let temporaryPath: String
  private var finished = false
  private var writeback: BackgroundWriteback?
  private var lock: OutputLock?
  private var cleanupToken: Int32 = -1

  public init(destination: String) throws(MTFQIError) {
    self.destination = destination
    let url = URL(fileURLWithPath: destination)
    let directory = url.deletingLastPathComponent().path
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue
    else {
      throw MTFQIError.io(path: destination, message: "the directory \(directory) does not exist")
    }
    try OutputGuard.check(output: destination)
    temporaryPath = directory + "/." + url.lastPathComponent + ".tmp-\(getpid())"
    lock = try OutputLock(destination: destination)
    cleanupToken = TemporaryFiles.register(temporaryPath)
    unlink(temporaryPath)
    Self.removeStaleTemporaries(directory: directory, name: url.lastPathComponent)
  }

  /// Removes `.NAME.tmp-PID` files left by runs that were killed (their process is gone).
  static func removeStaleTemporaries(directory: String, name: String) {
    let prefix = "." + name + ".tmp-"
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
    for entry in entries where entry.hasPrefix(prefix) {
      guard let pid = Int32(entry.dropFirst(prefix.count)), pid != getpid() else { continue }
      if kill(pid, 0) != 0 && errno == ESRCH { unlink(directory + "/" + entry) }
    }
  }

  deinit { abort() }

  /// Writes the temporary file's data to disk while it grows (`BackgroundWriteback`), so the
  /// final rename does not wait for the file system to flush a large output. Call it once the
  /// temporary file exists; `commit()` and `abort()` stop it.
  public func writeBackWhileWriting() {
    if writeback == nil { writeback = BackgroundWriteback(path: temporaryPath) }
  }

  /// Creates an HDF5 file at the temporary path (written back while it grows), lets `body`
  /// fill it, closes it and renames it over `path`; on any failure the temporary file is
  /// removed and the destination is untouched.
  public static func writeHDF5(_ path: String, _ body: (HDF5File) throws(HDF5Error) -> Void)
    throws(MTFQIError)
  {
    let output = try AtomicOutput(destination: path)
    do {
      let file = try HDF5File.create(output.temporaryPath)
      output.writeBackWhileWriting()
      try body(file)
      try file.close()
    } catch {
      output.abort()
      throw MTFQIError.hdf5(error)
    }
    try output.commit()
  }

  /// Writes `text` (UTF-8) as the whole content of `path`, atomically: the one writer of every
  /// text output (reports, metrics, Q tables, rejection lists, figures).
  static func writeText(_ text: String, to path: String) throws(MTFQIError) {
    try writeData(Data(text.utf8), to: path)
  }

  /// Writes `data` as the whole content of `path`, atomically.
  static func writeData(_ data: Data, to path: String) throws(MTFQIError) {
    let output = try AtomicOutput(destination: path)
    try output.write(data)
    try output.commit()
  }

  /// Writes `data` as the temporary file's whole content. A failure (a full disk: ENOSPC,
  /// EDQUOT) is one line naming the output, the reason and the bytes written; the temporary
  /// file is removed.
  func write(_ data: Data) throws(MTFQIError) {
    let descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else {
      let reason = String(cString: strerror(errno))
      abort()
      throw .io(path: destination, message: "cannot create its temporary file \(temporaryPath): \(reason)")
    }
    var written = 0
    var failure: Int32 = 0
    data.withUnsafeBytes { bytes in
      while written < bytes.count {
        let n = Glibc.write(descriptor, bytes.baseAddress! + written, bytes.count - written)
        if n < 0 {
          if errno == EINTR { continue }
          failure = errno
          return
        }
        written += n
      }
    }
    if failure == 0 && fsync(descriptor) != 0 && errno != EINVAL { failure = errno }
    if close(descriptor) != 0 && failure == 0 { failure = errno }
    if failure != 0 {
      abort()
      throw .io(
        path: destination,
        message: "cannot write it: \(String(cString: strerror(failure))) after writing \(written) of \(data.count) bytes")
    }
  }

  /// Renames the temporary file over the destination (atomic on one file system).
  public func commit() throws(MTFQIError) {
    guard !finished else { return }
    writeback?.stop()
    if rename(temporaryPath, destination) != 0 {
      let reason = String(cString: strerror(errno))
      abort()
      throw MTFQIError.io(path: destination, message: "cannot move the finished output into place: \(reason)")
    }
    finished = true
    // After the rename: a signal in between finds no temporary file to remove.
    TemporaryFiles.unregister(cleanupToken)
    lock?.release()
  }

  /// Removes the temporary file; the destination is untouched.
  public func abort() {
    writeback?.stop()
    guard !finished else { return }
    finished = true
    unlink(temporaryPath)
    TemporaryFiles.unregister(cleanupToken)
    lock?.release()
  }
}
