import Foundation
import Testing

/// End-to-end: runs the built `mtfqi-synth` (SwiftPM builds it next to the test bundle).
@Suite("Synthetic: the mtfqi-synth command")
struct SyntheticCommandTests {
  /// The directory that holds the built products: the test bundle's directory (Linux: the
  /// `.xctest` executable lives in it) or, failing that, the directory of the running binary.
  static func executable() throws -> URL {
    var candidates = [
      Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent(),
      URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
    ]
    for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
      candidates.append(bundle.bundleURL.deletingLastPathComponent())
    }
    for directory in candidates {
      let url = directory.appendingPathComponent("mtfqi-synth")
      if FileManager.default.isExecutableFile(atPath: url.path) { return url }
    }
    Issue.record("mtfqi-synth not found in \(candidates.map(\.path)); run `swift build` first")
    throw CocoaError(.fileNoSuchFile)
  }

  struct Run {
    var status: Int32
    var stdout: String
    var stderr: String
  }

  static func run(_ arguments: [String]) throws -> Run {
    let process = Process()
    process.executableURL = try executable()
    process.arguments = arguments
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Run(
      status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
      stderr: String(decoding: stderr, as: UTF8.self))
  }

  @Test("mtfqi-synth writes logs, features and truth; usage errors exit 64")
  func endToEnd() throws {
    let directory = FileManager.default.temporaryDirectory
      .appendingPathComponent("mtfqi-synth-e2e-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: directory) }
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
    let file = FileManager.default.temporaryDirectory
      .appendingPathComponent("mtfqi-synth-file-\(UUID().uuidString)").path
    #expect(FileManager.default.createFile(atPath: file, contents: Data("x".utf8)), "cannot create \(file)")
    defer { try? FileManager.default.removeItem(atPath: file) }
    let run = try Self.run(["-o", file, "--quiet"])
    #expect(run.status == 1)
    #expect(run.stderr.hasPrefix("Error: "))
  }
}
