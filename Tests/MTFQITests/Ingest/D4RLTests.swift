import Foundation
import Testing

@testable import MTFQI

/// A D4RL-style fixture read straight from its HDF5 file.
private struct D4RLContents {
  var observations: [Double]
  var nextObservations: [Double]?
  var actions: [Double]
  var rewards: [Double]
  var terminals: [Double]
  var timeouts: [Double]
  var width: Int
  var actionWidth: Int
  var rows: Int { rewards.count }

  init(_ path: String) throws {
    let file = try HDF5File.open(path)
    let observationSet = try file.dataset("/observations")
    width = observationSet.rowElements
    observations = try Fixtures.values(observationSet)
    nextObservations =
      try file.exists("/next_observations")
      ? Fixtures.values(file.dataset("/next_observations")) : nil
    let actionSet = try file.dataset("/actions")
    actionWidth = actionSet.rowElements
    actions = try Fixtures.values(actionSet)
    rewards = try Fixtures.values(file.dataset("/rewards"))
    terminals = try Fixtures.values(file.dataset("/terminals"))
    timeouts = try Fixtures.values(file.dataset("/timeouts"))
  }

  func observation(_ row: Int) -> ArraySlice<Double> {
    observations[(row * width)..<((row + 1) * width)]
  }

  /// The transitions the store must hold, by the documented semantics, spelled out row by row.
  func expectedTransitions() -> (
    observations: [Double], next: [Double], actions: [Double], rewards: [Double],
    terminations: [Double],
    truncations: [Double], episodes: [Double], steps: [Double], dropped: Int, nanTerminals: Int
  ) {
    var result:
      (
        observations: [Double], next: [Double], actions: [Double], rewards: [Double],
        terminations: [Double],
        truncations: [Double], episodes: [Double], steps: [Double], dropped: Int, nanTerminals: Int
      ) = ([], [], [], [], [], [], [], [], 0, 0)
    var episode = 0.0
    var step = 0.0
    for row in 0..<rows {
      let last = terminals[row] == 1 || timeouts[row] == 1 || row == rows - 1
      let next: [Double]
      if let nextObservations {
        next = Array(nextObservations[(row * width)..<((row + 1) * width)])
      } else if !last {
        next = Array(observation(row + 1))
      } else if terminals[row] == 1 {
        next = Array(repeating: .nan, count: width)
        result.nanTerminals += 1
      } else {
        result.dropped += 1
        episode += 1
        step = 0
        continue
      }
      result.observations += observation(row)
      result.next += next
      result.actions += actions[(row * actionWidth)..<((row + 1) * actionWidth)]
      result.rewards.append(rewards[row])
      result.terminations.append(terminals[row])
      result.truncations.append(timeouts[row])
      result.episodes.append(episode)
      result.steps.append(step)
      if last {
        episode += 1
        step = 0
      } else {
        step += 1
      }
    }
    return result
  }
}

@Suite("Ingest: D4RL-style HDF5 files")
struct D4RLTests {
  /// Ingests one fixture and checks every column against the file, and the counts.
  private func checkExact(
    _ name: String, path: String? = nil, dropped: Int, nanTerminals: Int, rewardDtype: String,
    observationType: HDF5ElementType, actionType: HDF5ElementType, actionIsDiscrete: Bool
  ) throws {
    let path = path ?? Fixtures.d4rl(name)
    let contents = try D4RLContents(path)
    let expected = contents.expectedTransitions()
    // The counts are also fixed by how tools/make_fixtures.py built the file.
    #expect(expected.dropped == dropped)
    #expect(expected.nanTerminals == nanTerminals)
    let temp = try Fixtures.TemporaryDirectory()
    let output = temp.file("store.h5")
    let summary = try Ingester.run(Fixtures.options([path], output: output))

    let store = try StoreReader(path: output)
    #expect(store.taskNames == [name])  // the file name is the default task
    let info = try store.info(name)
    #expect(info.transitions == contents.rows - dropped)
    #expect(summary.rowsStored == contents.rows - dropped)
    #expect(info.episodes == Set(expected.episodes).count)
    #expect(info.observationType == observationType)
    #expect(info.actionType == actionType)
    #expect(!info.observationSpaceDeclared && !info.actionSpaceDeclared)
    #expect(!info.observationSpace.isDiscrete)
    #expect(info.actionSpace.isDiscrete == actionIsDiscrete)
    #expect(info.rewardSourceDtype == rewardDtype)
    let source = try #require(info.sources.first)
    #expect(source.format == "d4rl")
    #expect(source.path == path)
    #expect(source.sha256 == (try Fixtures.sha256(path)))
    #expect(source.rowsRead == contents.rows)
    #expect(source.rowsStored == contents.rows - dropped)
    #expect(source.rowsRejected == 0)
    #expect(source.timeoutRowsDropped == dropped)
    #expect(source.terminalRowsWithoutNextObservation == nanTerminals)
    #expect(source.rewardSourceDtype == rewardDtype)

    func column(_ name: String) throws -> [Double] {
      try Fixtures.values(store.dataset(task: info.name, column: name))
    }
    #expect(try column(StoreLayout.observations) == expected.observations)
    #expect(Fixtures.identical(try column(StoreLayout.nextObservations), expected.next))
    #expect(try column(StoreLayout.actions) == expected.actions)
    #expect(try column(StoreLayout.rewards) == expected.rewards)
    #expect(try column(StoreLayout.terminations) == expected.terminations)
    #expect(try column(StoreLayout.truncations) == expected.truncations)
    #expect(try column(StoreLayout.episode) == expected.episodes)
    #expect(try column(StoreLayout.step) == expected.steps)
    // NaN only on terminal rows.
    let next = try column(StoreLayout.nextObservations)
    let terminations = try column(StoreLayout.terminations)
    for row in 0..<terminations.count
    where next[(row * contents.width)..<((row + 1) * contents.width)].contains(where: \.isNaN) {
      #expect(terminations[row] == 1, "row \(row) has a NaN next observation but is not terminal")
    }
  }

  @Test("with next_observations: every row is kept with its own next observation")
  func withNextObservations() throws {
    try checkExact(
      "with-next-obs", dropped: 0, nanTerminals: 0, rewardDtype: "float32",
      observationType: .float32,
      actionType: .float32, actionIsDiscrete: false)
  }

  @Test(
    "without next_observations, last row a timeout: timed-out last rows dropped, terminal ones NaN")
  func lastRowTimeout() throws {
    // Episodes of 6, 4, 1, 5, 3 rows ending terminal, timeout, terminal, terminal, timeout.
    try checkExact(
      "no-next-obs-last-timeout", dropped: 2, nanTerminals: 3, rewardDtype: "float64",
      observationType: .float64,
      actionType: .int64, actionIsDiscrete: true)
  }

  @Test("without next_observations, last row terminal: kept with a NaN next observation")
  func lastRowTerminal() throws {
    // Episodes of 5, 6, 4 rows ending timeout, terminal, terminal.
    try checkExact(
      "no-next-obs-last-terminal", dropped: 1, nanTerminals: 2, rewardDtype: "float32",
      observationType: .float32,
      actionType: .float32, actionIsDiscrete: false)
    let temp = try Fixtures.TemporaryDirectory()
    let output = temp.file("store.h5")
    _ = try Ingester.run(
      Fixtures.options([Fixtures.d4rl("no-next-obs-last-terminal")], output: output, task: "t"))
    let next = try StoreReader(path: output).read(
      task: "t", column: StoreLayout.nextObservations, as: Float.self)
    #expect(next.suffix(4).allSatisfy { $0.isNaN })
  }

  @Test(
    "a file that stops mid-episode: its final row is dropped like a timeout; int rewards and (N,1) int actions"
  )
  func openEnd() throws {
    // Episodes of 4 rows (terminal) and 5 rows (no flag on the final row).
    try checkExact(
      "no-next-obs-open-end", dropped: 1, nanTerminals: 1, rewardDtype: "int64",
      observationType: .float64,
      actionType: .int64, actionIsDiscrete: true)
  }

  @Test(
    "streams across block boundaries: the next observation of a block's last row comes from the next block"
  )
  func blockBoundaries() throws {
    // 65,536 + 1,500 rows (blocks of context.batchRows = 65,536); episodes end every 1,000 rows,
    // alternately terminal and timeout, so row 65,535 ends a block but not an episode; the file
    // stops mid-episode. Written with mtfqi's HDF5 layer.
    let temp = try Fixtures.TemporaryDirectory()
    let path = temp.file("large.hdf5")
    let n = (1 << 16) + 1500
    var terminals = [UInt8](repeating: 0, count: n)
    var timeouts = [UInt8](repeating: 0, count: n)
    for end in stride(from: 999, to: n, by: 1000) {
      if (end / 1000) % 2 == 0 { terminals[end] = 1 } else { timeouts[end] = 1 }
    }
    do {
      let root = try HDF5File.create(path).root()
      try root.writeDataset("observations", (0..<(2 * n)).map { Double($0) * 0.5 }, shape: [n, 2])
      try root.writeDataset("actions", (0..<n).map { Int64($0 % 3) }, shape: [n])
      try root.writeDataset("rewards", (0..<n).map { Float($0 % 11) - 5 }, shape: [n])
      try root.writeDataset("terminals", terminals, shape: [n])
      try root.writeDataset("timeouts", timeouts, shape: [n])
    }
    // 67 episode ends: 34 terminal (NaN next observation), 33 timeouts + the open end dropped.
    try checkExact(
      "large", path: path, dropped: 34, nanTerminals: 34, rewardDtype: "float32",
      observationType: .float64,
      actionType: .int64, actionIsDiscrete: true)
  }

  @Test(
    "rewards shorter than observations: an error naming the file, HDF5 path, expected and found")
  func malformedLengths() throws {
    let path = Fixtures.d4rl("malformed-rewards-length")
    let temp = try Fixtures.TemporaryDirectory()
    let output = temp.file("store.h5")
    let message = Fixtures.failure(Fixtures.options([path], output: output))
    #expect(message.contains(path), "\(message)")
    #expect(message.contains("/rewards"), "\(message)")
    #expect(message.contains("expected 8 rows"), "\(message)")
    #expect(message.contains("found 7"), "\(message)")
    #expect(!FileManager.default.fileExists(atPath: output))
  }

  @Test("a missing required dataset is named")
  func missingDataset() throws {
    let path = Fixtures.d4rl("missing-timeouts")
    let temp = try Fixtures.TemporaryDirectory()
    let message = Fixtures.failure(Fixtures.options([path], output: temp.file("store.h5")))
    #expect(message.contains(path), "\(message)")
    #expect(message.contains("/timeouts: missing"), "\(message)")
  }

  @Test(
    "a non-finite observation or reward is an error naming the row; --skip-invalid rejects and counts"
  )
  func nonFinite() throws {
    let path = Fixtures.d4rl("nonfinite")
    let temp = try Fixtures.TemporaryDirectory()
    let message = Fixtures.failure(Fixtures.options([path], output: temp.file("store.h5")))
    // Row 2's next observation is row 3's, which holds the NaN.
    #expect(
      message.contains(
        "\(path): /observations row 3: field 'observations': expected a finite number, found nan"),
      "\(message)")

    let output = temp.file("skipped.h5")
    let summary = try Ingester.run(
      Fixtures.options([path], output: output, task: "t", skipInvalid: true))
    // Rows 0-4 end terminal, rows 5-8 by timeout (row 8 dropped); rows 2 and 3 touch the NaN,
    // row 6 has an infinite reward.
    #expect(summary.rowsRejected == 3)
    let info = try StoreReader(path: output).info("t")
    let source = try #require(info.sources.first)
    #expect(source.rowsRead == 9)
    #expect(source.rowsRejected == 3)
    #expect(source.timeoutRowsDropped == 1)
    #expect(source.terminalRowsWithoutNextObservation == 1)
    #expect(info.transitions == 5)
    #expect(
      try StoreReader(path: output).read(task: "t", column: StoreLayout.step, as: Int64.self) == [
        0, 1, 4, 0, 2,
      ])
    let report = try String(contentsOfFile: try #require(summary.rejectionReport), encoding: .utf8)
    #expect(report.contains("row 3 of /observations"), "\(report)")
    #expect(report.contains("row 6 of /rewards"), "\(report)")
  }

  @Test(
    "declared spaces: a Discrete action outside the range is an error naming the row; widths are checked"
  )
  func declaredSpaces() throws {
    let path = Fixtures.d4rl("no-next-obs-last-timeout")
    let temp = try Fixtures.TemporaryDirectory()
    // The file's actions lie in 0...2.
    let actions = try HDF5File.open(path).dataset("/actions").read(as: Int64.self)
    let firstTwo = try #require(actions.firstIndex(of: 2))
    let message = Fixtures.failure(
      Fixtures.options([path], output: temp.file("a.h5"), actionSpace: .discrete(n: 2, start: 0)))
    #expect(
      message.contains(
        "\(path): /actions row \(firstTwo): field 'actions': expected an integer in [0, 1]"),
      "\(message)")

    let output = temp.file("b.h5")
    _ = try Ingester.run(
      Fixtures.options(
        [path], output: output, task: "t",
        observationSpace: .box(shape: [2], dtype: .float64, low: nil, high: nil),
        actionSpace: .discrete(n: 3, start: 0)))
    let info = try StoreReader(path: output).info("t")
    #expect(info.actionSpaceDeclared && info.observationSpaceDeclared)
    #expect(info.actionSpace == .discrete(n: 3, start: 0))

    let width = Fixtures.failure(
      Fixtures.options(
        [Fixtures.d4rl("with-next-obs")], output: temp.file("c.h5"),
        observationSpace: .box(shape: [5], dtype: .float32, low: nil, high: nil)))
    #expect(width.contains("/observations: expected 5 values per row"), "\(width)")
    #expect(width.contains("found 3"), "\(width)")

    let kind = Fixtures.failure(
      Fixtures.options(
        [Fixtures.d4rl("with-next-obs")], output: temp.file("d.h5"),
        actionSpace: .discrete(n: 4, start: 0)))
    #expect(kind.contains("/actions"), "\(kind)")
    #expect(kind.contains("Discrete(4)"), "\(kind)")
  }

  @Test("several files of one task: episode ids continue across files")
  func twoFiles() throws {
    let temp = try Fixtures.TemporaryDirectory()
    let output = temp.file("store.h5")
    let path = Fixtures.d4rl("with-next-obs")
    _ = try Ingester.run(Fixtures.options([path, path], output: output, task: "t"))
    let info = try StoreReader(path: output).info("t")
    #expect(info.sources.map(\.episodeIdOffset) == [0, 4])
    #expect(info.episodes == 8)
  }
}
