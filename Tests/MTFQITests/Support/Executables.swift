import Foundation
import Testing

/// The built stage executables (`mtfqi-ingest`, `mtfqi-inspect`, ...) and other programs, run
/// as separate processes for end-to-end tests.
///
/// SwiftPM puts the executables in the same directory as the test bundle. On Linux the bundle
/// is the `mtfqiPackageTests.xctest` executable itself, which is `CommandLine.arguments[0]` when
/// `swift test` runs it; `Bundle.main` and the loaded `.xctest` bundles are tried too so the
/// lookup also works under other runners.
enum Executables {
  /// The directories that may hold the built products, most likely first.
  static var productDirectories: [URL] {
    var candidates = [
      URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
      Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent(),
    ]
    for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
      candidates.append(bundle.bundleURL.deletingLastPathComponent())
    }
    return candidates
  }

  /// The built executable `name`; records an issue (and throws) when it is not built.
  static func url(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> URL {
    for directory in productDirectories {
      let url = directory.appendingPathComponent(name)
      if FileManager.default.isExecutableFile(atPath: url.path) { return url }
    }
    Issue.record(
      "\(name) not found in \(productDirectories.map(\.path)); build it first (swift build)",
      sourceLocation: sourceLocation)
    throw CocoaError(.fileNoSuchFile)
  }

  /// What a finished process did.
  struct Run: CustomStringConvertible {
    var status: Int32
    var reason: Process.TerminationReason
    var stdout: String
    var stderr: String

    var description: String {
      "exit \(status) (\(reason == .exit ? "exit" : "signal"))\nstdout: \(stdout)\nstderr: \(stderr)"
    }
  }

  /// Runs the built executable `name` with `arguments` to completion. Output goes to temporary
  /// files rather than pipes, so a chatty process can never block on a full pipe.
  static func run(
    _ name: String, _ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation
  ) throws -> Run {
    try run(url: url(name, sourceLocation: sourceLocation), arguments)
  }

  /// Runs any program to completion (see `run(_:_:)`).
  static func run(url: URL, _ arguments: [String]) throws -> Run {
    try start(url: url, arguments).finish()
  }

  /// A process started and not yet waited for, its output going to a `Capture`: for tests that
  /// watch, signal or kill a run while it works.
  final class Running {
    let process: Process
    let capture: Capture

    fileprivate init(process: Process, capture: Capture) {
      self.process = process
      self.capture = capture
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    /// Waits for the end and returns what the process did.
    func finish() throws -> Run {
      process.waitUntilExit()
      return Run(
        status: process.terminationStatus, reason: process.terminationReason, stdout: try capture.readStdout(),
        stderr: try capture.readStderr())
    }
  }

  /// Starts the built executable `name` (see `run(_:_:)`), stdin from /dev/null.
  static func start(
    _ name: String, _ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation
  ) throws -> Running {
    try start(url: url(name, sourceLocation: sourceLocation), arguments)
  }

  /// Starts any program (see `start(_:_:)`).
  static func start(url: URL, _ arguments: [String]) throws -> Running {
    let process = Process()
    process.executableURL = url
    process.arguments = arguments
    let capture = try Capture()
    process.standardOutput = capture.stdout
    process.standardError = capture.stderr
    process.standardInput = FileHandle.nullDevice
    try process.run()
    return Running(process: process, capture: capture)
  }

  /// The Python interpreter for tools/ cross-checks: `MTFQI_PYTHON` (set by `make test` to an
  /// interpreter that has h5py, numpy and pandas), else `python3` on PATH.
  static var python: String {
    ProcessInfo.processInfo.environment["MTFQI_PYTHON"].flatMap { $0.isEmpty ? nil : $0 } ?? "python3"
  }

  /// Whether `make test` promised a Python with h5py and numpy (`MTFQI_PYTHON` is set): the
  /// cross-checks then fail instead of being skipped when that Python cannot import them.
  static var pythonRequired: Bool { ProcessInfo.processInfo.environment["MTFQI_PYTHON"].map { !$0.isEmpty } ?? false }

  /// Runs a program found on PATH (through /usr/bin/env).
  static func runTool(_ arguments: [String]) throws -> Run {
    try run(url: URL(fileURLWithPath: "/usr/bin/env"), arguments)
  }

  /// sha256 of a file computed by coreutils, independently of mtfqi's own digest.
  static func sha256sum(_ path: String) throws -> String {
    let run = try runTool(["sha256sum", path])
    #expect(run.status == 0, "sha256sum failed: \(run)")
    return String(run.stdout.prefix(64))
  }

  /// Temporary files that receive a process's stdout and stderr.
  final class Capture {
    let directory: URL
    let stdout: FileHandle
    let stderr: FileHandle

    init() throws {
      directory = URL(fileURLWithPath: try Fixtures.makeUniqueDirectory("mtfqi-capture"))
      for name in ["stdout", "stderr"] {
        guard FileManager.default.createFile(atPath: directory.appendingPathComponent(name).path, contents: nil) else {
          throw CocoaError(.fileWriteUnknown)
        }
      }
      stdout = try FileHandle(forWritingTo: directory.appendingPathComponent("stdout"))
      stderr = try FileHandle(forWritingTo: directory.appendingPathComponent("stderr"))
    }

    deinit {
      try? stdout.close()
      try? stderr.close()
      try? FileManager.default.removeItem(at: directory)
    }

    func readStdout() throws -> String {
      String(decoding: try Data(contentsOf: directory.appendingPathComponent("stdout")), as: UTF8.self)
    }

    func readStderr() throws -> String {
      String(decoding: try Data(contentsOf: directory.appendingPathComponent("stderr")), as: UTF8.self)
    }
  }
}
