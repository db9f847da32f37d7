internal import CSupport
import Foundation

/// What identifies a file on disk: `stat(2)`'s device and inode (symbolic links followed), so
/// two spellings of one file (`./a.h5`, a symlink, a hard link) compare equal.
struct FileIdentity: Hashable, Sendable {
  let device: UInt64
  let inode: UInt64

  /// The identity of an existing file or folder, nil when `path` does not exist.
  init?(path: String) {
    var info = stat()
    guard stat(path, &info) == 0 else { return nil }
    device = UInt64(info.st_dev)
    inode = UInt64(info.st_ino)
  }
}

/// The same-path guard: a stage declares its input files once (`OutputGuard.declare`), and
/// every output — checked there up front and again by `AtomicOutput` just before anything is
/// written — is refused when it resolves to one of them (same path after symbolic links, or the
/// same device and inode). Nothing is changed by a refusal; the stage exits 64 (a usage error).
public enum OutputGuard {
  private final class Registry: @unchecked Sendable {
    let lock = NSLock()
    var inputs: [(path: String, identity: FileIdentity)] = []
  }
  private static let registry = Registry()

  /// Registers `inputs` (files or folders that the stage reads) and refuses any of `outputs`
  /// that is one of them, or that is named twice. `outputDirectories` are folders whose files
  /// the stage may overwrite by name (`--q-tables DIR` writes `DIR/<task>.csv`): an input
  /// directly in such a folder, named `*.csv`, is refused too. Throws `.sameFile` naming both.
  public static func declare(
    inputs: [String], outputs: [String], outputDirectories: [String] = []
  ) throws(MTFQIError) {
    register(inputs: inputs)
    var seen: [FileIdentity: String] = [:]
    for output in outputs {
      try check(output: output)
      // Two outputs of one run that are the same file: the second would replace the first.
      if let identity = FileIdentity(path: output) {
        if let other = seen[identity] { throw .sameFile(output: output, input: other, bothOutputs: true) }
        seen[identity] = output
      }
    }
    for output in outputs where FileIdentity(path: output) == nil {
      let normalized = URL(fileURLWithPath: output).standardizedFileURL.path
      if let other = outputs.first(where: {
        $0 != output && URL(fileURLWithPath: $0).standardizedFileURL.path == normalized
      }) {
        throw .sameFile(output: output, input: other, bothOutputs: true)
      }
    }
    for directory in outputDirectories {
      guard let folder = FileIdentity(path: directory) else { continue }
      for input in registeredInputs() where input.path.lowercased().hasSuffix(".csv") {
        let parent = URL(fileURLWithPath: input.path).deletingLastPathComponent().path
        if FileIdentity(path: parent) == folder {
          throw .sameFile(output: directory, input: input.path, bothOutputs: false)
        }
      }
    }
  }

  /// Adds files to the inputs that outputs are checked against (files that do not exist are
  /// skipped: reading them fails on its own).
  public static func register(inputs: [String]) {
    let found = inputs.compactMap { path in FileIdentity(path: path).map { (path, $0) } }
    registry.lock.lock()
    registry.inputs.append(contentsOf: found)
    registry.lock.unlock()
  }

  private static func registeredInputs() -> [(path: String, identity: FileIdentity)] {
    registry.lock.lock()
    defer { registry.lock.unlock() }
    return registry.inputs
  }

  /// Refuses `output` when it is a registered input. An output that does not exist yet cannot
  /// be an input (inputs exist); an existing one is compared by device and inode.
  public static func check(output: String) throws(MTFQIError) {
    guard let identity = FileIdentity(path: output) else { return }
    if let input = registeredInputs().first(where: { $0.identity == identity }) {
      throw .sameFile(output: output, input: input.path, bothOutputs: false)
    }
  }
}

/// One writer at a time per output: an exclusive `flock(2)` on `.NAME.lock` beside the target,
/// taken before the old content is read (`mtfqi-ingest --append` reads the store it replaces)
/// and released after the rename. A second process that wants the same output waits, saying
/// so on stderr, or fails at once when `waitForOtherWriters` is false (`--no-wait`). Locks are
/// per process and reentrant: `AtomicOutput` takes the lock its caller may already hold.
///
/// The lock file exists only while the output is being written: the holder removes it before it
/// unlocks, and a waiter that then holds a lock on a removed file starts again on the new one.
public final class OutputLock {
  private final class Table: @unchecked Sendable {
    let lock = NSLock()
    var held: [String: (descriptor: Int32, count: Int, cleanupToken: Int32)] = [:]
  }
  private static let table = Table()
  nonisolated(unsafe) private static var waits = true

  /// Whether a second writer waits for the first (default) or fails at once (`--no-wait`).
  public static var waitForOtherWriters: Bool {
    get { table.lock.withLock { waits } }
    set { table.lock.withLock { waits = newValue } }
  }

  /// The lock file's path.
  public let lockPath: String
  private var released = false

  /// The lock file beside `destination`: `DIR/.NAME.lock`.
  static func lockPath(for destination: String) -> String {
    let url = URL(fileURLWithPath: destination).standardizedFileURL
    return url.deletingLastPathComponent().path + "/." + url.lastPathComponent + ".lock"
  }

  /// Takes the lock of `destination` (waiting for another process, unless
  /// `waitForOtherWriters` is false).
  public init(destination: String) throws(MTFQIError) {
    lockPath = Self.lockPath(for: destination)
    let table = Self.table
    table.lock.lock()
    if let entry = table.held[lockPath] {
      table.held[lockPath] = (entry.descriptor, entry.count + 1, entry.cleanupToken)
      table.lock.unlock()
      return
    }
    let waits = Self.waits
    table.lock.unlock()
    var descriptor: Int32 = -1
    var announced = false
    while descriptor < 0 {
      let candidate = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
      guard candidate >= 0 else {
        let directory = URL(fileURLWithPath: lockPath).deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) || !isDirectory.boolValue {
          throw .io(path: destination, message: "the directory \(directory) does not exist")
        }
        throw .io(
          path: destination,
          message: "cannot create the lock file \(lockPath): \(String(cString: strerror(errno)))")
      }
      if flock(candidate, LOCK_EX | LOCK_NB) != 0 {
        let reason = errno
        guard reason == EWOULDBLOCK else {
          close(candidate)
          throw .io(path: destination, message: "cannot lock \(lockPath): \(String(cString: strerror(reason)))")
        }
        guard waits else {
          close(candidate)
          throw .conflict(
            "\(destination): another process is writing it (it holds \(lockPath)); run again when it has finished, or leave out --no-wait to wait for it")
        }
        if !announced {
          announced = true
          FileHandle.standardError.write(
            Data("waiting for another process writing \(destination) to finish (lock \(lockPath))\n".utf8))
        }
        while flock(candidate, LOCK_EX) != 0 {
          guard errno == EINTR else {
            let failure = String(cString: strerror(errno))
            close(candidate)
            throw .io(path: destination, message: "cannot lock \(lockPath): \(failure)")
          }
        }
      }
      // The holder removes the lock file before it unlocks: a lock taken on a file that is no
      // longer at the path protects nothing, so take the one that is there now.
      var held = stat()
      var current = stat()
      if fstat(candidate, &held) == 0 && stat(lockPath, &current) == 0 && held.st_dev == current.st_dev
        && held.st_ino == current.st_ino
      {
        descriptor = candidate
      } else {
        close(candidate)
      }
    }
    // A signal removes the lock file with the temporary outputs (the kernel drops the lock).
    let cleanupToken = TemporaryFiles.register(lockPath)
    table.lock.lock()
    table.held[lockPath] = (descriptor, 1, cleanupToken)
    table.lock.unlock()
  }

  deinit { release() }

  /// Releases this hold; the lock goes when the last hold in the process is released.
  public func release() {
    guard !released else { return }
    released = true
    let table = Self.table
    table.lock.lock()
    defer { table.lock.unlock() }
    guard let entry = table.held[lockPath] else { return }
    if entry.count > 1 {
      table.held[lockPath] = (entry.descriptor, entry.count - 1, entry.cleanupToken)
    } else {
      table.held[lockPath] = nil
      // Removed while still locked (see `init`), so no lock file stays beside the output.
      unlink(lockPath)
      close(entry.descriptor)
      TemporaryFiles.unregister(entry.cleanupToken)
    }
  }
}

/// Temporary outputs that a signal must not leave behind: registered with the C handler
/// (`Sources/CSupport/signals.c`), which unlinks them on SIGTERM, SIGINT, SIGHUP and on fatal
/// signals before the process ends. The handlers are installed by the first registration.
enum TemporaryFiles {
  /// Registers `path`; the returned token unregisters it.
  static func register(_ path: String) -> Int32 {
    mtfqi_signals_install()
    return mtfqi_cleanup_register(path)
  }

  static func unregister(_ token: Int32) {
    mtfqi_cleanup_unregister(token)
  }
}

/// The crash context of HDF5 reads: between `enter` and `leave`, a fatal signal on this thread
/// (the HDF5 C library dereferencing a corrupt file's garbage) ends the process with one line,
/// `Error: FILE: the HDF5 library crashed reading OBJECT (the file is corrupt or not what it
/// claims to be)`, exit status 1, after the temporary outputs are removed. Use as
/// `let context = HDF5CrashContext.enter(...); defer { HDF5CrashContext.leave(context) }`.
enum HDF5CrashContext {
  static func enter(file: String, object: String) -> UnsafePointer<CChar>? {
    mtfqi_signals_install()
    return mtfqi_crash_context_push(
      "Error: \(file): the HDF5 library crashed reading \(object) (the file is corrupt or not what it claims to be)\n")
  }

  static func leave(_ previous: UnsafePointer<CChar>?) {
    mtfqi_crash_context_pop(previous)
  }
}
