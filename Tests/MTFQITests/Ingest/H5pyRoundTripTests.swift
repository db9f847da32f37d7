import Foundation
import Testing

@testable import MTFQI

/// Stores written by the ingest, read back by plain h5py (tools/check_store_roundtrip.py) and
/// compared with the sources parsed by Python's csv / json modules. Runs when `python3` can
/// import h5py and numpy (`make python-deps` installs them); otherwise it is reported skipped.
@Suite("Ingest: stores read back with h5py equal the CSV / JSON Lines sources")
struct H5pyRoundTripTests {
  static let pythonWithH5py: Bool = {
    Executables.pythonRequired || (try? Executables.runTool([Executables.python, "-c", "import h5py, numpy"]).status) == 0
  }()

  /// tools/check_store_roundtrip.py, found from this file's path.
  static let script: String = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()  // Ingest
    .deletingLastPathComponent()  // MTFQITests
    .deletingLastPathComponent()  // Tests
    .deletingLastPathComponent()  // the package
    .appendingPathComponent("tools/check_store_roundtrip.py").path

  static func check(_ store: String, task: String, _ sources: [String]) throws -> Executables.Run {
    try Executables.runTool([Executables.python, script, store, "--task", task] + sources)
  }

  /// Values that stress exact decimal parsing and float64 storage.
  static let hardValues = [
    "0.1", "1e-300", "-0.0", "123456789.123456789", "5e-324", "1.7976931348623157e308", "2.2250738585072014e-308",
    "0.30000000000000004", "9007199254740993", "-2.5E+3", "1e22", "3",
  ]

  /// Rows of `task` whose numbers run through `hardValues`.
  static func rows(task: String?, episodes: [Int64], offset: Int) -> [TextTransition] {
    var result: [TextTransition] = []
    var k = offset
    func next() -> String {
      defer { k += 1 }
      return hardValues[k % hardValues.count]
    }
    for episode in episodes {
      for step in 0..<3 {
        let obs = [next(), next(), next()]
        result.append(
          TextTransition(
            task: task, episode: episode, step: Int64(step), obs: obs, action: [next(), next()], reward: next(),
            next: step == 2 && episode % 2 == 0 ? ["", "", ""] : [next(), next(), next()],
            terminated: step == 2 && episode % 2 == 0,
            truncated: step == 2 && episode % 2 == 1, behavior: ["0.1", "0.5", "1", "0"][step]))
      }
    }
    return result
  }

  @Test(
    "CSV and JSON Lines stores (several tasks, gzip, renumbered episodes, float32) equal their sources in h5py",
    .enabled(if: pythonWithH5py, "python3 with h5py and numpy is not available"))
  func storesEqualSourcesInH5py() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-h5py")
    // CSV with a task column: three tasks, interleaved; two files of task "reach" collide on
    // episode ids; JSON Lines (gzip) with two tasks; a Discrete CSV via --task.
    let reach = Self.rows(task: "reach", episodes: [0, 1, 2], offset: 0)
    let push = Self.rows(task: "push", episodes: [0, 5], offset: 5)
    let mixed = zip(reach, push).flatMap { [$0, $1] } + reach.dropFirst(push.count)
    let layout = TextLogs.Layout(behavior: true, quoteTask: true, lineEnding: "\r\n")
    let first = directory.file("first.csv")
    try TextLogs.write(TextLogs.csv(mixed, layout), to: first)
    let second = directory.file("second.csv")
    try TextLogs.write(
      TextLogs.csv(Self.rows(task: "reach", episodes: [1, 2], offset: 3), TextLogs.Layout(behavior: true)), to: second)
    let jsonlPlain = directory.file("more.jsonl")
    try TextLogs.write(
      TextLogs.jsonl(
        Self.rows(task: "reach", episodes: [7], offset: 1) + Self.rows(task: "lift", episodes: [0, 1], offset: 7),
        TextLogs.Layout(behavior: true)), to: jsonlPlain)
    let jsonl = try TextLogs.gzip(jsonlPlain)
    let sources = [first, second, jsonl]

    for float32 in [false, true] {
      let store = directory.file(float32 ? "store32.h5" : "store.h5")
      var options = Fixtures.options(sources, output: store)
      options.float32 = float32
      options.compression = float32 ? .deflate(level: 3) : .none
      let summary = try Ingester.run(options)
      #expect(summary.tasks.map(\.name).sorted() == ["lift", "push", "reach"])
      let reachSources = try StoreReader(path: store).info("reach").sources
      #expect(reachSources.map(\.episodeIdOffset) == [0, 2, 0], "second.csv collides with first.csv on 1, 2")
      let checks: [(task: String, sources: [String])] = [
        ("reach", [first, second, jsonl]), ("push", [first]), ("lift", [jsonl]),
      ]
      for (task, taskSources) in checks {
        let result = try Self.check(store, task: task, taskSources)
        #expect(result.status == 0, "\(task), float32 \(float32): \(result)")
        #expect(result.stdout.hasPrefix("OK: task \(task):"), "\(result.stdout)")
        #expect(result.stdout.contains("no plugins"))
      }
    }

    let grid = directory.file("grid.csv")
    try TextLogs.write(
      TextLogs.csv(
        TextIngestTests.discreteRows,
        TextLogs.Layout(discreteObservation: true, discreteAction: true, taskColumn: false)),
      to: grid)
    let gridStore = directory.file("grid.h5")
    _ = try Ingester.run(Fixtures.options([grid], output: gridStore, task: "grid"))
    let gridCheck = try Self.check(gridStore, task: "grid", [grid])
    #expect(gridCheck.status == 0, "\(gridCheck)")
  }

  @Test(
    "the h5py check notices one unit in the last place, a flipped sign of zero and a misplaced NaN",
    .enabled(if: pythonWithH5py, "python3 with h5py and numpy is not available"))
  func checkerDetectsDifferences() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-h5py")
    let rows = Self.rows(task: "reach", episodes: [0, 1], offset: 0)
    let source = directory.file("reach.csv")
    try TextLogs.write(TextLogs.csv(rows, TextLogs.Layout(behavior: true)), to: source)
    let store = directory.file("store.h5")
    _ = try Ingester.run(Fixtures.options([source], output: store))
    #expect(try Self.check(store, task: "reach", [source]).status == 0)

    // The same file with 0.1 replaced by the next double up: the check must fail on it.
    var changed = rows
    changed[0].obs[0] = "0.10000000000000002"
    try TextLogs.write(TextLogs.csv(changed, TextLogs.Layout(behavior: true)), to: source)
    let ulp = try Self.check(store, task: "reach", [source])
    #expect(ulp.status == 1, "\(ulp)")
    #expect(
      ulp.stderr.contains("MISMATCH: task reach: observations: at (0, 0) stored 0.1, expected 0.10000000000000002"),
      "\(ulp.stderr)")

    // -0.0 written as 0.0: equal as numbers, different as stored bits.
    changed = rows
    #expect(changed[0].obs[2] == "-0.0")
    changed[0].obs[2] = "0.0"
    try TextLogs.write(TextLogs.csv(changed, TextLogs.Layout(behavior: true)), to: source)
    let sign = try Self.check(store, task: "reach", [source])
    #expect(sign.status == 1, "\(sign)")
    #expect(sign.stderr.contains("observations: at (0, 2) stored -0.0, expected 0.0"), "\(sign.stderr)")

    // A missing next observation where the store has a value.
    changed = rows
    changed[1].next = ["", "", ""]
    changed[1].terminated = true
    try TextLogs.write(TextLogs.csv(changed, TextLogs.Layout(behavior: true)), to: source)
    let nan = try Self.check(store, task: "reach", [source])
    #expect(nan.status == 1, "\(nan)")
    #expect(nan.stderr.contains("next_observations: NaN at (1, 0) differs"), "\(nan.stderr)")
  }
}
