import Foundation
import Testing

/// The make target that uses the coverage gate: with a gate the default data cannot pass, make
/// stops after coverage (exit status != 0, the gate's message), before training, and leaves no
/// coverage report behind (.DELETE_ON_ERROR); with the default gates the same target passes.
/// Runs the repository's Makefile with the test build's binaries (`-o` marks the build stamp
/// up to date so make never starts a nested `swift build`).
@Suite("Coverage: the make gate")
struct CoverageMakeGateTests {
  static let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  static var makeAvailable: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/make") }

  @Test("a failing gate stops make before training; the default gates pass", .enabled(if: makeAvailable, "needs /usr/bin/make"))
  func gateStopsMake() throws {
    let bin = try Executables.url("mtfqi-coverage").deletingLastPathComponent().path
    let directory = try Fixtures.TemporaryDirectory("mtfqi-make-gate")
    let out = directory.url
    let common = ["make", "-C", Self.repositoryRoot.path, "-o", bin + "/.mtfqi-built", "BIN=\(bin)", "OUT=\(out.path)"]

    let failing = try Executables.runTool(common + ["COVERAGE_GATES=--max-concentrability 1", out.path + "/model.h5"])
    #expect(failing.status != 0, "\(failing)")
    #expect(failing.stderr.contains("coverage gate failed"), "\(failing)")
    #expect(failing.stderr.contains("exceeds --max-concentrability 1"), "\(failing)")
    #expect(FileManager.default.fileExists(atPath: out.path + "/store.h5"))
    #expect(!FileManager.default.fileExists(atPath: out.path + "/coverage.json"))
    #expect(!FileManager.default.fileExists(atPath: out.path + "/model.h5"))

    let passing = try Executables.runTool(common + ["coverage-gate"])
    #expect(passing.status == 0, "\(passing)")
  }
}
