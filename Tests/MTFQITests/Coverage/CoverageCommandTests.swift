import Foundation
import Testing

@testable import MTFQI

/// The built `mtfqi-coverage`, run as a process: exit statuses (0, 3 for a failed gate, 1 for
/// errors, 64 for usage), messages, the report file.
@Suite("mtfqi-coverage command", .serialized)
struct CoverageCommandTests {
  @Test func gateFailureExitsThreeNamingTaskAndNumber() throws {
    let directory = try Fixtures.TemporaryDirectory("coverage-cli")
    let store = try CoverageFixtures.store(
      CoverageFixtures.coveredRows, states: 2, actions: 2, in: directory)
    let output = directory.file("coverage.json")

    // C_pi = 2.1 (see the known-answer test) fails a maximum of 2.
    let failed = try Executables.run(
      "mtfqi-coverage", [store, "--gamma", "0.5", "--max-concentrability", "2", "-o", output])
    #expect(failed.status == 3, "\(failed)")
    #expect(failed.stderr.contains("Error: coverage gate failed"))
    #expect(
      failed.stderr.contains(
        "task t0: single-policy concentrability = 2.1 exceeds --max-concentrability 2"))
    #expect(failed.stderr.contains("pooled data: single-policy concentrability = 2.1"))
    #expect(failed.stdout.contains("Gates FAILED"))
    let report = try CoverageReport.decode(try String(contentsOfFile: output, encoding: .utf8))
    #expect(!report.gates.passed && report.gates.failures.count == 2)
    #expect(report.gates.checked == ["--max-concentrability 2"])

    // Passing gates: exit 0; --json prints the report.
    let passed = try Executables.run(
      "mtfqi-coverage",
      [store, "--gamma", "0.5", "--max-concentrability", "3", "--min-lambda", "0.1", "--json"])
    #expect(passed.status == 0, "\(passed)")
    let printed = try CoverageReport.decode(passed.stdout)
    #expect(printed.gates.passed && printed.tasks.count == 1)

    // Only the pooled scope, and a learned-free feature gate.
    let pooledOnly = try Executables.run(
      "mtfqi-coverage", [store, "--gate-scope", "pooled", "--max-kappa", "1", "--quiet"])
    #expect(pooledOnly.status == 3)
    #expect(pooledOnly.stderr.contains("pooled data: kappa (base features) = 1.5"))
    #expect(!pooledOnly.stderr.contains("task t0"))
    #expect(pooledOnly.stdout.isEmpty)
  }

  @Test func usageErrorsAndRuntimeErrors() throws {
    let directory = try Fixtures.TemporaryDirectory("coverage-cli-errors")
    let store = try CoverageFixtures.store(
      CoverageFixtures.coveredRows, states: 2, actions: 2, in: directory)
    let both = try Executables.run("mtfqi-coverage", [store, "--gamma", "0.5", "--horizon", "3"])
    #expect(both.status == 64 && both.stderr.contains("Error:"), "\(both)")
    let greedy = try Executables.run("mtfqi-coverage", [store, "--policy", "greedy"])
    #expect(greedy.status == 64 && greedy.stderr.contains("--model"), "\(greedy)")
    let features = try Executables.run("mtfqi-coverage", [store, "--features", "bogus"])
    #expect(features.status == 64 && features.stderr.contains("--features"), "\(features)")
    let missing = try Executables.run("mtfqi-coverage", [directory.file("missing.h5")])
    #expect(missing.status == 1 && missing.stderr.hasPrefix("Error:"), "\(missing)")
    // A failed run leaves no report behind.
    #expect(!FileManager.default.fileExists(atPath: directory.file("none.json")))
  }

  @Test func helpAndVersion() throws {
    let help = try Executables.run("mtfqi-coverage", ["--help"])
    #expect(help.status == 0)
    #expect(help.stdout.contains("Examples:"))
    #expect(help.stdout.contains("mtfqi-coverage build/run/store.h5 --truth data/synth/truth.h5"))
    #expect(help.stdout.contains("--max-concentrability"))
    let version = try Executables.run("mtfqi-coverage", ["--version"])
    #expect(
      version.status == 0
        && version.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == MTFQIVersion.string)
  }
}
