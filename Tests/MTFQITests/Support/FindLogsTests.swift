import Foundation
import Testing

/// tools/find_logs.sh decides what `make run LOGS=DIR NEW_TASK=DIR` ingests: log files found
/// recursively, Minari dataset folders as one input each, nothing from inside a dataset folder.
@Suite("make run: which logs a LOGS= folder holds")
struct FindLogsTests {
  static let script = URL(fileURLWithPath: Fixtures.root)
    .deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("tools/find_logs.sh").path

  static func list(_ arguments: [String]) throws -> [String] {
    let run = try Executables.run(url: URL(fileURLWithPath: "/bin/bash"), [script] + arguments)
    #expect(run.status == 0, "\(run)")
    return run.stdout.split(separator: "\n").map(String.init)
  }

  @Test("nested folders, Minari dataset folders and every log suffix are found; other files are not")
  func nestedAndMinari() throws {
    let directory = try Fixtures.TemporaryDirectory("find-logs")
    let root = directory.path
    let manager = FileManager.default
    for folder in ["a/b", "minari-set/data", "c/other-set/data", ".hidden"] {
      try manager.createDirectory(atPath: root + "/" + folder, withIntermediateDirectories: true)
    }
    for file in [
      "t0.csv", "t1.jsonl.gz", "a/t2.ndjson", "a/b/t3.hdf5", "a/b/t4.csv.gz", "a/notes.txt",
      "minari-set/data/main_data.hdf5", "minari-set/data/metadata.json",
      "c/other-set/data/main_data.hdf5", ".hidden/t5.csv", "a/.t6.csv",
    ] {
      #expect(manager.createFile(atPath: root + "/" + file, contents: Data("x".utf8)))
    }
    #expect(
      try Self.list([root]) == [
        root + "/a/b/t3.hdf5", root + "/a/b/t4.csv.gz", root + "/a/t2.ndjson",
        root + "/c/other-set", root + "/minari-set", root + "/t0.csv", root + "/t1.jsonl.gz",
      ])
    // A dataset folder given directly is one input; --files lists what it consists of.
    #expect(try Self.list([root + "/minari-set"]) == [root + "/minari-set"])
    #expect(
      try Self.list(["--files", root + "/minari-set", root + "/t0.csv"]) == [
        root + "/minari-set/data/main_data.hdf5", root + "/minari-set/data/metadata.json", root + "/t0.csv",
      ])
    #expect(try Self.list([root + "/missing"]).isEmpty)
  }
}
