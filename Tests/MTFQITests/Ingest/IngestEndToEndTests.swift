import Foundation
import Testing

@testable import MTFQI

/// End to end: the built `mtfqi-ingest` and `mtfqi-inspect`, checked on stdout, stderr, exit
/// status and the files they leave. Every class of bad input must fail with one message naming
/// the file, the line (or HDF5 path/row) and the field; exit status 1; no output file and no
/// temporary left; a store already at the output path bytewise unchanged.
@Suite("Ingest end to end: mtfqi-ingest and mtfqi-inspect")
struct IngestEndToEndTests {
  static let header = "task,episode,step,obs_0,obs_1,act_0,reward,next_obs_0,next_obs_1,terminated,truncated"

  /// A good CSV log of task "walk" (10 rows, lines 2...11), as lines without newlines.
  static func goodLines(task: String = "walk") -> [String] {
    TextLogs.csv(TextLogs.boxRows(task: task, episodes: [0, 1, 2, 3])).split(separator: "\n").map(String.init)
  }

  /// A scratch directory holding a small valid store (task "keep") to be damaged by nothing.
  final class Workspace {
    let directory: Fixtures.TemporaryDirectory
    let store: String
    let storeBytes: Data

    init() throws {
      directory = try Fixtures.TemporaryDirectory("mtfqi-e2e")
      let keep = directory.file("keep.csv")
      try TextLogs.write(TextLogs.csv(TextLogs.boxRows(task: "keep")), to: keep)
      store = directory.file("store.h5")
      _ = try Ingester.run(Fixtures.options([keep], output: store))
      storeBytes = try TextLogs.bytes(store)
    }

    func file(_ name: String) -> String { directory.file(name) }

    func write(_ name: String, _ text: String) throws -> String {
      let path = file(name)
      try TextLogs.write(text, to: path)
      return path
    }

    func write(_ name: String, lines: [String]) throws -> String {
      try write(name, lines.joined(separator: "\n") + "\n")
    }

    /// Names in the directory that look like temporaries of an output.
    func temporaries() throws -> [String] {
      try FileManager.default.contentsOfDirectory(atPath: directory.path).filter {
        $0.hasPrefix(".") && $0.contains(".tmp-")
      }
    }
  }

  /// Runs `mtfqi-ingest inputs... arguments...` three times: to a new output path, over the
  /// existing store, and over it with --append. Each run must fail with exit status 1 and a
  /// message holding every fragment, and leave no output, no temporary, the store unchanged.
  static func expectFailure(
    _ workspace: Workspace, inputs: [String], arguments: [String] = [], fragments: [String],
    sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    let fresh = workspace.file("fresh.h5")
    let runs: [(label: String, output: String, extra: [String])] = [
      ("new output", fresh, []),
      ("over an existing store", workspace.store, []),
      ("--append to an existing store", workspace.store, ["--append"]),
    ]
    for run in runs {
      let result = try Executables.run("mtfqi-ingest", inputs + ["-o", run.output, "--quiet"] + run.extra + arguments)
      #expect(result.reason == .exit && result.status == 1, "\(run.label): \(result)", sourceLocation: sourceLocation)
      #expect(result.stdout.isEmpty, "\(run.label): \(result.stdout)", sourceLocation: sourceLocation)
      #expect(result.stderr.hasPrefix("Error: "), "\(run.label): \(result.stderr)", sourceLocation: sourceLocation)
      #expect(
        result.stderr.split(separator: "\n").count == 1, "\(run.label): one message: \(result.stderr)",
        sourceLocation: sourceLocation)
      for fragment in fragments {
        #expect(
          result.stderr.contains(fragment), "\(run.label): '\(fragment)' not in: \(result.stderr)",
          sourceLocation: sourceLocation)
      }
      #expect(
        !FileManager.default.fileExists(atPath: fresh), "\(run.label): output left behind",
        sourceLocation: sourceLocation)
      #expect(try workspace.temporaries() == [], "\(run.label): temporary left behind", sourceLocation: sourceLocation)
      #expect(
        try TextLogs.bytes(workspace.store) == workspace.storeBytes, "\(run.label): the existing store changed",
        sourceLocation: sourceLocation)
    }
  }

  // MARK: One test per class of bad input

  @Test("wrong column count")
  func wrongColumnCount() throws {
    let workspace = try Workspace()
    var lines = Self.goodLines()
    lines[2] += ",7"
    let extra = try workspace.write("extra.csv", lines: lines)
    try Self.expectFailure(
      workspace, inputs: [extra], fragments: ["extra.csv:3: field '(row)': expected 11 fields as in the header"])
    lines = Self.goodLines()
    lines[4] = lines[4].components(separatedBy: ",").dropLast().joined(separator: ",")
    let short = try workspace.write("short.csv", lines: lines)
    try Self.expectFailure(
      workspace, inputs: [short],
      fragments: ["short.csv:5: field '(row)': expected 11 fields as in the header, found 10"])
  }

  @Test("missing column (CSV header) or missing field (JSON Lines record)")
  func missingColumnOrField() throws {
    let workspace = try Workspace()
    let noReward = Self.goodLines().map { line -> String in
      var fields = line.components(separatedBy: ",")
      fields.remove(at: 6)
      return fields.joined(separator: ",")
    }
    let csv = try workspace.write("noreward.csv", lines: noReward)
    try Self.expectFailure(workspace, inputs: [csv], fragments: ["noreward.csv:1: the header has no 'reward' column"])
    var records = TextLogs.jsonl(TextLogs.boxRows(task: "walk")).split(separator: "\n").map(String.init)
    records[1] = records[1].replacingOccurrences(of: #""reward": 0.5, "#, with: "")
    #expect(!records[1].contains("reward"))
    let jsonl = try workspace.write("noreward.jsonl", lines: records)
    try Self.expectFailure(
      workspace, inputs: [jsonl], fragments: ["noreward.jsonl:2: field 'reward': expected a value, found no such field"]
    )
  }

  @Test("non-numeric value")
  func nonNumeric() throws {
    let workspace = try Workspace()
    var lines = Self.goodLines()
    lines[3] = "walk,0,1,0.5,abc,0,0,1,1,0,0"
    let csv = try workspace.write("text.csv", lines: lines)
    try Self.expectFailure(
      workspace, inputs: [csv], fragments: ["text.csv:4: field 'obs_1': expected a finite number, found 'abc'"])
    var records = TextLogs.jsonl(TextLogs.boxRows(task: "walk")).split(separator: "\n").map(String.init)
    records[2] = records[2].replacingOccurrences(of: #""step": 0"#, with: #""step": "zero""#)
    let jsonl = try workspace.write("text.jsonl", lines: records)
    try Self.expectFailure(workspace, inputs: [jsonl], fragments: ["text.jsonl:3: field 'step': expected an integer"])
  }

  @Test("non-finite value (nan/inf in obs or reward)")
  func nonFinite() throws {
    let workspace = try Workspace()
    var lines = Self.goodLines()
    lines[1] = "walk,0,0,nan,0,0,0,1,1,0,0"
    let nanObs = try workspace.write("nanobs.csv", lines: lines)
    try Self.expectFailure(
      workspace, inputs: [nanObs], fragments: ["nanobs.csv:2: field 'obs_0': expected a finite number, found 'nan'"])
    lines = Self.goodLines()
    lines[5] = "walk,1,1,0,0,0,-inf,1,1,0,0"
    let infReward = try workspace.write("infreward.csv", lines: lines)
    try Self.expectFailure(
      workspace, inputs: [infReward],
      fragments: ["infreward.csv:6: field 'reward': expected a finite number, found '-inf'"])
    var records = TextLogs.jsonl(TextLogs.boxRows(task: "walk")).split(separator: "\n").map(String.init)
    records[3] = records[3].replacingOccurrences(of: #""reward": 0.5,"#, with: #""reward": 1e999,"#)
    #expect(records[3].contains(#""reward": 1e999,"#), "\(records[3])")
    let jsonl = try workspace.write("inf.jsonl", lines: records)
    try Self.expectFailure(
      workspace, inputs: [jsonl], fragments: ["inf.jsonl:4: field 'reward': expected a finite number, found '1e999'"])
  }

  static let discreteHeader = "episode,step,obs,action,reward,next_obs,terminated,truncated"

  @Test("a discrete action that is not an integer")
  func discreteActionNotInteger() throws {
    let workspace = try Workspace()
    let csv = try workspace.write(
      "grid.csv", lines: [Self.discreteHeader, "0,0,1,1,0,2,0,0", "0,1,2,0,0,3,0,0", "0,2,3,1.5,0,4,1,0"])
    try Self.expectFailure(
      workspace, inputs: [csv], arguments: ["--task", "grid"],
      fragments: ["grid.csv:4: field 'action': expected an integer, found '1.5'"])
  }

  @Test("a discrete action outside the declared action space")
  func discreteActionOutsideSpace() throws {
    let workspace = try Workspace()
    let csv = try workspace.write(
      "grid.csv", lines: [Self.discreteHeader, "0,0,1,1,0,2,0,0", "0,1,2,2,0,3,0,0", "0,2,3,1,0,4,1,0"])
    try Self.expectFailure(
      workspace, inputs: [csv], arguments: ["--task", "grid", "--action-space", "discrete:2"],
      fragments: ["grid.csv:3: field 'action': expected an integer in [0, 1] (declared Discrete(2)), found 2"])
    // The same file with the space it fits is fine.
    let ok = try Executables.run(
      "mtfqi-ingest", [csv, "--task", "grid", "--action-space", "discrete:3", "-o", workspace.file("ok.h5"), "--quiet"])
    #expect(ok.status == 0, "\(ok)")
  }

  @Test("observation width differing within a task (two files of one task; JSON Lines rows)")
  func observationWidthDiffers() throws {
    let workspace = try Workspace()
    let narrow = try workspace.write("narrow.csv", lines: Self.goodLines())
    let wide = try workspace.write(
      "wide.csv",
      lines: ["task,episode,step,obs_0,obs_1,obs_2,act_0,reward,next_obs_0,next_obs_1,next_obs_2,terminated,truncated"]
        + ["walk,0,0,1,2,3,0,0,1,2,3,0,1"])
    try Self.expectFailure(
      workspace, inputs: [narrow, wide],
      fragments: ["wide.csv:1:", "task 'walk'", "field 'obs'", "expected 2 float64 values per row", "found 3 float64 values per row"])
    var records = TextLogs.jsonl(TextLogs.boxRows(task: "walk")).split(separator: "\n").map(String.init)
    records[4] = records[4].replacingOccurrences(of: #""obs": ["#, with: #""obs": [0.5, "#)
    let ragged = try workspace.write("ragged.jsonl", lines: records)
    try Self.expectFailure(
      workspace, inputs: [ragged],
      fragments: [
        "ragged.jsonl:5: field 'obs': expected an array of 2 numbers (as in the file's first record), found 3"
      ])
  }

  /// A gzip file of the good log, made by the system tool.
  static func gzipped(_ workspace: Workspace, _ name: String) throws -> Data {
    var lines = [Self.header]
    for episode in 0..<300 {
      for step in 0..<5 {
        lines.append(
          "walk,\(episode),\(step),\(Double(episode) * 0.37),\(step),\(step % 2),0.5,\(Double(episode) * 0.37),\(step + 1),0,\(step == 4 ? 1 : 0)"
        )
      }
    }
    let plain = try workspace.write(name, lines: lines)
    let data = try TextLogs.bytes(try TextLogs.gzip(plain))
    try FileManager.default.removeItem(atPath: plain)
    try FileManager.default.removeItem(atPath: plain + ".gz")
    #expect(data.count > 4000)
    return data
  }

  @Test("truncated gzip")
  func truncatedGzip() throws {
    let workspace = try Workspace()
    let data = try Self.gzipped(workspace, "log.csv")
    let path = workspace.file("cut.csv.gz")
    try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: path))
    try Self.expectFailure(workspace, inputs: [path], fragments: ["cut.csv.gz: the gzip stream is truncated"])
  }

  @Test("corrupt gzip (a bad checksum, and damaged compressed data)")
  func corruptGzip() throws {
    let workspace = try Workspace()
    var data = try Self.gzipped(workspace, "log.csv")
    // The CRC-32 of the data sits in the 8-byte trailer: every byte decompresses, then the check fails.
    data[data.count - 8] ^= 0xFF
    let badCRC = workspace.file("crc.csv.gz")
    try data.write(to: URL(fileURLWithPath: badCRC))
    try Self.expectFailure(
      workspace, inputs: [badCRC],
      fragments: ["crc.csv.gz: the gzip stream is corrupt near compressed byte", "incorrect data check"])
    // An invalid block type right after the 10-byte header.
    var damaged = try Self.gzipped(workspace, "log2.csv")
    damaged[10] = 0xFF
    let badBlock = workspace.file("block.csv.gz")
    try damaged.write(to: URL(fileURLWithPath: badBlock))
    try Self.expectFailure(
      workspace, inputs: [badBlock], fragments: ["block.csv.gz: the gzip stream is corrupt near compressed byte"])
  }

  @Test("an HDF5 file that is not the layout it claims (.h5 without the D4RL datasets; not HDF5 at all)")
  func notTheClaimedLayout() throws {
    let workspace = try Workspace()
    let other = workspace.file("other.h5")
    do {
      let file = try HDF5File.create(other)
      try file.root().writeDataset("observations", [1.0, 2.0, 3.0, 4.0], shape: [2, 2])
      try file.root().writeDataset("something", [Int64(1)], shape: [1])
      try file.close()
    }
    try Self.expectFailure(
      workspace, inputs: [other],
      fragments: ["other.h5: /actions: missing (a D4RL-style file holds /observations, /actions"])
    let text = try workspace.write("text.h5", "episode,step\n0,0\n")
    try Self.expectFailure(workspace, inputs: [text], fragments: ["text.h5", "not an HDF5 file"])
    // A store is an HDF5 file too, but not a D4RL file (a copy: the output may not be an input).
    let storeCopy = workspace.file("store-copy.h5")
    try FileManager.default.copyItem(atPath: workspace.store, toPath: storeCopy)
    try Self.expectFailure(
      workspace, inputs: [storeCopy], arguments: ["--format", "d4rl"],
      fragments: ["store-copy.h5: /observations: missing"])
  }

  @Test("an empty file")
  func emptyFile() throws {
    let workspace = try Workspace()
    let csv = try workspace.write("empty.csv", "")
    try Self.expectFailure(workspace, inputs: [csv], fragments: ["empty.csv: the file is empty"])
    let jsonl = try workspace.write("empty.jsonl", "\n\n")
    try Self.expectFailure(workspace, inputs: [jsonl], fragments: ["empty.jsonl: the file holds no records"])
    let gz = workspace.file("empty.csv.gz")
    try Data().write(to: URL(fileURLWithPath: gz))
    try Self.expectFailure(workspace, inputs: [gz], fragments: ["empty.csv.gz: the file is empty"])
  }

  @Test("a header-only CSV")
  func headerOnly() throws {
    let workspace = try Workspace()
    let csv = try workspace.write("header.csv", Self.header + "\n")
    try Self.expectFailure(workspace, inputs: [csv], fragments: ["header.csv: the file has a header but no data rows"])
  }

  @Test("a task that exists already, without --replace")
  func existingTask() throws {
    let workspace = try Workspace()
    let keep = try workspace.write("keep2.csv", lines: Self.goodLines(task: "keep"))
    let result = try Executables.run("mtfqi-ingest", [keep, "-o", workspace.store, "--append", "--quiet"])
    #expect(result.status == 1, "\(result)")
    #expect(result.stderr.contains("keep2.csv:1: task 'keep' already exists in \(workspace.store); pass --replace"))
    #expect(try TextLogs.bytes(workspace.store) == workspace.storeBytes)
    #expect(try workspace.temporaries() == [])
  }

  // MARK: Killed mid-ingest

  @Test("SIGKILL in the middle of a large ingest leaves the existing store bytewise unchanged")
  func killedMidIngest() throws {
    let workspace = try Workspace()
    // ~200 MB of CSV: one 1 MB block of lines written 200 times.
    let big = workspace.file("big.csv")
    var block = ""
    var line = 0
    while block.utf8.count < 1 << 20 {
      block +=
        "walk,\(line / 50),\(line % 50),\(Double(line) * 0.001),-1.25,\(line % 3),0.5,\(Double(line + 1) * 0.001),-1.25,0,0\n"
      line += 1
    }
    #expect(FileManager.default.createFile(atPath: big, contents: Data((Self.header + "\n").utf8)))
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: big))
    try handle.seekToEnd()
    let blockData = Data(block.utf8)
    for _ in 0..<200 { try handle.write(contentsOf: blockData) }
    try handle.close()
    let size = try FileManager.default.attributesOfItem(atPath: big)[.size] as? Int ?? 0
    #expect(size > 200_000_000)

    let process = try Executables.start("mtfqi-ingest", [big, "-o", workspace.store, "--quiet"])
    let pid = process.pid
    let temporary = workspace.file(".store.h5.tmp-\(pid)")
    // Kill on observed progress, not after a fixed time: once the temporary store holds more
    // than 8 MiB of rows it is certainly partly written (the whole store is ~100 MB).
    func temporaryBytes() -> Int64 {
      var info = stat()
      return stat(temporary, &info) == 0 ? Int64(info.st_size) : -1
    }
    let deadline = Date().addingTimeInterval(60)
    while temporaryBytes() < 8 << 20 && process.isRunning && Date() < deadline {
      usleep(2_000)
    }
    let written = temporaryBytes()
    #expect(written >= 8 << 20, "the ingest's temporary store never grew past 8 MiB: \(written) bytes")
    #expect(process.isRunning, "the ingest finished before it could be killed: \((try? process.capture.readStderr()) ?? "")")
    kill(pid, SIGKILL)
    let run = try process.finish()
    #expect(run.reason == .uncaughtSignal && run.status == SIGKILL, "\(run)")

    #expect(try TextLogs.bytes(workspace.store) == workspace.storeBytes)
    #expect(try StoreReader(path: workspace.store).taskNames == ["keep"])
    let outputs = try FileManager.default.contentsOfDirectory(atPath: workspace.directory.path)
      .filter { $0.hasPrefix("store.h5") }
    #expect(outputs == ["store.h5"])
    // A killed process cannot remove its temporary; it is a hidden file beside the store, never
    // at the output path, and the next run is not disturbed by it.
    let again = try Executables.run(
      "mtfqi-ingest", [workspace.file("keep.csv"), "-o", workspace.file("after.h5"), "--quiet"])
    #expect(again.status == 0, "\(again)")
    try? FileManager.default.removeItem(atPath: temporary)
  }

  // MARK: Success, help, version, usage errors

  @Test("a successful run: the table or the JSON summary on stdout, the store exact, nothing else left")
  func successfulRun() throws {
    let workspace = try Workspace()
    let rows = TextLogs.boxRows(task: "walk", episodes: [0, 1, 2, 3])
    let csv = try workspace.write("walk.csv", TextLogs.csv(rows))
    let jsonl = try workspace.write("run.jsonl", TextLogs.jsonl(TextLogs.boxRows(task: "run")))
    let output = workspace.file("out.h5")
    let table = try Executables.run("mtfqi-ingest", [csv, jsonl, "-o", output])
    #expect(table.status == 0, "\(table)")
    #expect(table.stderr.isEmpty, "no progress when stderr is not a terminal: \(table.stderr)")
    #expect(table.stdout.hasPrefix("Wrote \(output): 2 task(s), 17 transitions"), "\(table.stdout)")
    #expect(table.stdout.contains("walk"))
    try TextLogs.expectStore(output, task: "walk", rows: rows)

    let json = try Executables.run("mtfqi-ingest", [csv, jsonl, "-o", workspace.file("json.h5"), "--json", "--quiet"])
    #expect(json.status == 0, "\(json)")
    let summary = try JSONDecoder().decode(IngestSummary.self, from: Data(json.stdout.utf8))
    #expect(summary.rowsRead == 17)
    #expect(summary.rowsStored == 17)
    #expect(summary.rowsRejected == 0)
    #expect(summary.tasks.map(\.name) == ["walk", "run"])
    #expect(summary.tasks.map(\.transitions) == [10, 7])
    #expect(summary.tasks.first?.sources.first?.sha256 == (try Executables.sha256sum(csv)))
    #expect(summary.tasks.last?.sources.first?.sha256 == (try Executables.sha256sum(jsonl)))
    #expect(summary.output == workspace.file("json.h5"))
    #expect(
      try TextLogs.bytes(output) == TextLogs.bytes(workspace.file("json.h5")), "the same input gives the same bytes")
    #expect(try workspace.temporaries() == [])

    // --skip-invalid writes the report beside the store and says so.
    var lines = Self.goodLines()
    lines.insert("walk,0,9,x,0,0,0,1,1,0,0", at: 3)
    let bad = try workspace.write("bad.csv", lines: lines)
    let skipped = try Executables.run("mtfqi-ingest", [bad, "-o", workspace.file("skip.h5"), "--skip-invalid"])
    #expect(skipped.status == 0, "\(skipped)")
    #expect(
      skipped.stdout.contains("Rejected 1 row(s); see \(workspace.file("skip.h5")).rejects.jsonl"), "\(skipped.stdout)")
    let report = try String(contentsOfFile: workspace.file("skip.h5") + ".rejects.jsonl", encoding: .utf8)
    #expect(report.contains(#""location":"line 4""#), "\(report)")
    #expect(report.contains("field 'obs_0': expected a finite number, found 'x'"))
  }

  @Test("the same input gives byte-identical stores in separate processes")
  func deterministicAcrossProcesses() throws {
    let workspace = try Workspace()
    let csv = try workspace.write("tasks.csv", TextLogs.csv(TextIngestTests.multiTask, TextLogs.Layout(behavior: true)))
    // Three observation values and two action values, as in the CSV: a store has one space.
    let widened = (TextLogs.boxRows(task: "zeta") + TextLogs.boxRows(task: "alpha", scale: 2)).map { row in
      var row = row
      row.obs.append("1")
      row.next.append("1")
      row.action.append("0")
      return row
    }
    let jsonl = try workspace.write("more.jsonl", TextLogs.jsonl(widened))
    var stores: [Data] = []
    for run in 0..<4 {
      let output = workspace.file("s\(run).h5")
      let result = try Executables.run("mtfqi-ingest", [csv, jsonl, "-o", output, "--quiet"])
      #expect(result.status == 0, "\(result)")
      stores.append(try TextLogs.bytes(output))
    }
    #expect(
      try StoreReader(path: workspace.file("s0.h5")).taskNames == ["alpha", "pick.place", "push-v2", "reach", "zeta"])
    for run in 1..<4 { #expect(stores[run] == stores[0], "run \(run) differs from run 0") }
  }

  @Test("--help shows an example; --version prints 0.1.0")
  func helpAndVersion() throws {
    let help = try Executables.run("mtfqi-ingest", ["--help"])
    #expect(help.status == 0)
    #expect(help.stdout.contains("Examples:"))
    #expect(help.stdout.contains("mtfqi-ingest logs/reach.csv"), "\(help.stdout)")
    #expect(help.stdout.contains("--skip-invalid"))
    for tool in ["mtfqi-ingest", "mtfqi-inspect"] {
      let version = try Executables.run(tool, ["--version"])
      #expect(version.status == 0)
      #expect(version.stdout == "0.1.0\n", "\(tool): \(version)")
    }
    let inspectHelp = try Executables.run("mtfqi-inspect", ["--help"])
    #expect(inspectHelp.status == 0)
    #expect(inspectHelp.stdout.contains("mtfqi-inspect build/store.h5"))
  }

  @Test("usage errors exit 64 with the reason and the usage, and write nothing")
  func usageErrors() throws {
    let workspace = try Workspace()
    let csv = try workspace.write("walk.csv", lines: Self.goodLines())
    let output = workspace.file("out.h5")
    let cases: [(arguments: [String], fragment: String)] = [
      ([csv, "-o", output, "--compress", "12"], "--compress takes a deflate level from 1 to 9, found 12"),
      ([csv, "-o", output, "--compress", "0"], "--compress takes a deflate level from 1 to 9, found 0"),
      ([csv, "-o", output, "--replace"], "--replace only makes sense with --append"),
      (["-o", output], "give at least one input file or folder"),
      ([csv], "Missing expected argument '--output <output>'"),
      ([csv, "-o", output, "--format", "xml"], "--format must be one of csv, jsonl, minari, d4rl; found 'xml'"),
      (
        [csv, "-o", output, "--observation-space", "ring:3"],
        "--observation-space: expected Minari-style JSON or a short form"
      ),
      ([csv, "-o", output, "--reject-report", "r.jsonl"], "--reject-report only makes sense with --skip-invalid"),
      ([csv, "-o", output, "--no-such-flag"], "Unknown option '--no-such-flag'"),
    ]
    for (arguments, fragment) in cases {
      let result = try Executables.run("mtfqi-ingest", arguments)
      #expect(result.status == 64, "\(arguments): \(result)")
      #expect(result.stderr.hasPrefix("Error: "), "\(arguments): \(result.stderr)")
      #expect(result.stderr.contains(fragment), "\(arguments): \(result.stderr)")
      #expect(result.stderr.contains("Usage: mtfqi-ingest"), "\(arguments): \(result.stderr)")
      #expect(!FileManager.default.fileExists(atPath: output), "\(arguments)")
    }
    let inspect = try Executables.run("mtfqi-inspect", [])
    #expect(inspect.status == 64, "\(inspect)")
  }

  // MARK: mtfqi-inspect

  @Test("mtfqi-inspect describes a store as text and as JSON")
  func inspectStore() throws {
    let workspace = try Workspace()
    let grid = try workspace.write(
      "grid.csv", lines: [Self.discreteHeader, "0,0,1,1,0,2,0,0", "0,1,2,0,0.5,3,1,0", "5,0,0,1,1,1,0,1"])
    let store = workspace.file("two.h5")
    let made = try Executables.run(
      "mtfqi-ingest", [workspace.file("keep.csv"), grid, "--task", "grid", "-o", workspace.file("bad.h5"), "--quiet"])
    #expect(made.status == 1, "--task grid renames keep.csv's task, whose Box rows cannot join grid's Discrete ones: \(made)")
    // A store has one observation space: the task kept beside 'grid' is Discrete too.
    let keepLines = [Self.discreteHeader] + (0..<7).map { "\($0 / 4),\($0 % 4),\($0),1,0,\($0 + 1),0,\($0 == 6 ? 1 : 0)" }
    let keepLog = try workspace.write("keep-grid.csv", lines: keepLines)
    let keep = try Executables.run("mtfqi-ingest", [keepLog, "--task", "keep", "-o", store, "--quiet"])
    #expect(keep.status == 0, "\(keep)")
    let add = try Executables.run(
      "mtfqi-ingest",
      [grid, "--task", "grid", "--observation-space", "discrete:50", "--append", "-o", store, "--quiet"])
    #expect(add.status == 0, "\(add)")

    let text = try Executables.run("mtfqi-inspect", [store])
    #expect(text.status == 0, "\(text)")
    let lines = text.stdout.split(separator: "\n").map(String.init)
    #expect(lines.first == "\(store): mtfqi store (format version 1), 2 task(s), 10 transitions", "\(text.stdout)")
    #expect(
      lines.contains { $0.hasPrefix("grid ") && $0.contains("Discrete(50)") && $0.contains("Discrete(2) (inferred)") })
    #expect(lines.contains { $0.hasPrefix("keep ") && $0.contains("Discrete(8) (inferred) int64") })
    #expect(text.stdout.contains("Store spaces: observations Discrete(50) (declared), actions Discrete(2) (inferred)"), "\(text.stdout)")
    #expect(text.stdout.contains("Sources:"))
    #expect(text.stdout.contains("grid <- \(grid) [csv] 3 stored of 3 read"))

    let json = try Executables.run("mtfqi-inspect", [store, "--json"])
    #expect(json.status == 0, "\(json)")
    let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
    #expect(object["format"] as? String == "mtfqi.store")
    #expect(object["format_version"] as? Int == 1)
    #expect(object["path"] as? String == store)
    let tasks = try #require(object["tasks"] as? [[String: Any]])
    #expect(tasks.compactMap { $0["name"] as? String } == ["grid", "keep"])
    let gridTask = try #require(tasks.first)
    #expect(gridTask["transitions"] as? Int == 3)
    #expect(gridTask["episodes"] as? Int == 2)
    #expect(gridTask["observation_space_origin"] as? String == "declared")
    #expect(gridTask["action_space_origin"] as? String == "inferred")
    #expect(gridTask["observation_dtype"] as? String == "int64")
    #expect(gridTask["has_behavior_probs"] as? Bool == false)
    let sources = try #require(gridTask["sources"] as? [[String: Any]])
    #expect(sources.count == 1)
    #expect(sources.first?["sha256"] as? String == (try Executables.sha256sum(grid)))
    #expect(sources.first?["rows_stored"] as? Int == 3)
    let decoded = try JSONDecoder().decode(FileInspection.self, from: Data(json.stdout.utf8))
    #expect(decoded.tasks.last?.transitions == 7)
  }

  @Test("mtfqi-inspect on files that are not stores: exit 1 with a clear message")
  func inspectNonStore() throws {
    let workspace = try Workspace()
    let plain = workspace.file("plain.h5")
    do {
      let file = try HDF5File.create(plain)
      try file.root().writeDataset("x", [1.0], shape: [1])
      try file.close()
    }
    // A model file (only its format attribute matters here) is pointed to mtfqi-report.
    let model = workspace.file("model.h5")
    do {
      let file = try HDF5File.create(model)
      try file.root().setAttribute("format", "mtfqi.model")
      try file.close()
    }
    let cases: [(path: String, fragment: String)] = [
      (plain, "\(plain): not an mtfqi file (no root attribute 'format')"),
      (model, "\(model): mtfqi-inspect describes stores (format 'mtfqi.store'); this file is 'mtfqi.model': for its summary, mtfqi-report --model \(model) -o report.html"),
      (try workspace.write("text.csv", "a,b\n1,2\n"), "not an HDF5 file"),
      (workspace.file("missing.h5"), "missing.h5: /: cannot open file: the file does not exist"),
    ]
    for (path, fragment) in cases {
      for arguments in [[path], [path, "--json"]] {
        let result = try Executables.run("mtfqi-inspect", arguments)
        #expect(result.status == 1, "\(arguments): \(result)")
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix("Error: "), "\(result.stderr)")
        #expect(result.stderr.contains(fragment), "\(arguments): \(result.stderr)")
      }
    }
  }
}
