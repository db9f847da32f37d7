import Foundation
import Testing

/// End-to-end: runs the built `mtfqi-synth` (SwiftPM builds it next to the test bundle).
@Suite("Synthetic: the mtfqi-synth command")
struct SyntheticCommandTests {
  static func run(_ arguments: [String]) throws -> Executables.Run {
    try Executables.run("mtfqi-synth", arguments)
  }

  @Test("mtfqi-synth writes logs, features and truth; usage errors exit 64")
  func endToEnd() throws {
    let scratch = try Fixtures.TemporaryDirectory("mtfqi-synth-e2e")
    let directory = scratch.path
    let ok = try Self.run([
      "-o", directory, "--tasks", "3", "--samples", "200", "--new-tasks", "1", "--new-samples",
      "20",
      "--states", "10", "--actions", "2", "--rank", "2", "--dim", "6", "--format", "both",
      "--quiet",
    ])
    #expect(ok.status == 0, "stderr: \(ok.stderr)")
    #expect(ok.stdout.contains("truth.h5"))
    #expect(ok.stderr.isEmpty)
    for file in [
      "train/task00.csv", "train/task02.jsonl", "new/new00.csv", "new/new00.jsonl", "features.h5",
      "truth.h5",
    ] {
      #expect(FileManager.default.fileExists(atPath: directory + "/" + file), "\(file)")
    }
    let csv = try String(contentsOfFile: directory + "/train/task01.csv", encoding: .utf8)
    #expect(csv.split(separator: "\n").count == 201)
    // No temporary files are left behind.
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory + "/train")
      .filter { $0.hasPrefix(".") }
    #expect(leftovers.isEmpty)

    let bad = try Self.run(["-o", directory, "--rank", "50", "--dim", "40"])
    #expect(bad.status == 64)
    #expect(bad.stderr.contains("Error:") && bad.stderr.contains("--rank"))

    let both = try Self.run(["-o", directory, "--gamma", "0.5", "--horizon", "3"])
    #expect(both.status == 64)

    let version = try Self.run(["--version"])
    #expect(
      version.status == 0
        && version.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0.1.0")

    let help = try Self.run(["--help"])
    #expect(
      help.status == 0 && help.stdout.contains("--epsilon") && help.stdout.contains("Example"))
  }

  @Test("A runtime failure prints Error: and exits 1")
  func runtimeFailure() throws {
    // The output "directory" is a regular file, so it cannot be created.
    let scratch = try Fixtures.TemporaryDirectory("mtfqi-synth-file")
    let file = scratch.file("not-a-directory")
    #expect(FileManager.default.createFile(atPath: file, contents: Data("x".utf8)), "cannot create \(file)")
    let run = try Self.run(["-o", file, "--quiet"])
    #expect(run.status == 1)
    #expect(run.stderr.hasPrefix("Error: "))
  }
}
