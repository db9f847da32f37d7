import Foundation
import Testing

@testable import MTFQI

/// Seeded mutation fuzzing (`make fuzz FUZZ_SECONDS=N`; a short budget runs inside `make test`).
///
/// - `textParsersDifferential`: lines of Tests/Fixtures/fuzz/text mutated byte by byte; whatever
///   a one-pass fast path (C, CommonRows.cpp) takes must be the general Swift parser's row bit for
///   bit, and both must survive any bytes (in process: a trap ends the test run).
/// - `textIngest`: whole CSV / JSON Lines files of Tests/Fixtures/fuzz/ingest mutated (bytes,
///   lines, boundary numbers such as int64 max, long arrays) through the built `mtfqi-ingest`.
/// - `hdf5Readers`: bit flips, overwritten words and truncations of Minari, D4RL, store, model,
///   representation, head and truth files through the stage that reads each.
///
/// A run through an executable must end by `exit` with status 0 or 1 (64 for usage), print at
/// most one `Error:` line, and leave no temporary file; anything else is a finding, saved under
/// `MTFQI_FUZZ_FINDINGS` (default build/fuzz-findings). Budget per harness: `MTFQI_FUZZ_SECONDS`
/// (default 2); seed: `MTFQI_FUZZ_SEED` (default 1); executables from `MTFQI_FUZZ_BIN` when set
/// (a copy, so a rebuild does not change them under a long campaign).
@Suite("Fuzz: seeded mutation of parser and reader inputs", .serialized)
struct FuzzTests {
  static let environment = ProcessInfo.processInfo.environment
  static let budget = Double(environment["MTFQI_FUZZ_SECONDS"] ?? "") ?? 2
  static let seed = UInt64(environment["MTFQI_FUZZ_SEED"] ?? "") ?? 1
  static let findings = environment["MTFQI_FUZZ_FINDINGS"] ?? "build/fuzz-findings"

  /// The library's SplitMix64 (same sequence as before), with the helpers in TestRandom.swift.
  typealias Random = SplitMix64

  /// Numbers at the edges: what overflow and grammar checks must meet.
  static let boundaryNumbers = [
    "9223372036854775807", "9223372036854775806", "-9223372036854775808", "-9223372036854775807",
    "9223372036854775808", "18446744073709551615", "4611686018427387904", "1e308", "-1e308", "1e309",
    "4.9e-324", "nan", "inf", "-0", "01", "+1", "1.", ".5", "-.5", "1e", "0x10", "2147483648", "-1", "1099511627776",
  ]

  static let corpus = Fixtures.path("fuzz")

  static func lines(_ file: String) throws -> [String] {
    try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map(String.init).filter { !$0.isEmpty }
  }

  /// One to four edits of `bytes`: replace, insert, delete, duplicate a span, or put a boundary
  /// number in place of a run of digits.
  static func mutate(_ input: [UInt8], _ random: inout Random, alphabet: [UInt8]) -> [UInt8] {
    var bytes = input
    for _ in 0...random.below(4) {
      let at = random.below(bytes.count + 1)
      let byte = random.chance(70) ? alphabet[random.below(alphabet.count)] : UInt8(random.below(256))
      switch random.below(6) {
      case 0 where at < bytes.count: bytes[at] = byte
      case 1: bytes.insert(byte, at: at)
      case 2: if at < bytes.count { bytes.remove(at: at) }
      case 3 where at < bytes.count:
        let end = min(bytes.count, at + 1 + random.below(12))
        bytes.insert(contentsOf: bytes[at..<end], at: random.below(bytes.count + 1))
      default:
        // A run of number characters replaced by a boundary number.
        let isNumber: (UInt8) -> Bool = { $0 >= 0x30 && $0 <= 0x39 || $0 == 0x2E || $0 == 0x2D || $0 == 0x65 }
        guard let start = bytes[min(at, bytes.count)...].firstIndex(where: isNumber) else { continue }
        let end = bytes[start...].firstIndex { !isNumber($0) } ?? bytes.count
        bytes.replaceSubrange(start..<end, with: Array(boundaryNumbers[random.below(boundaryNumbers.count)].utf8))
      }
    }
    return bytes
  }

  static func report(_ harness: String, executions: Int, started: Date, findings: Int, extra: String = "") {
    let seconds = Date().timeIntervalSince(started)
    print(
      "fuzz \(harness): \(executions) executions in \(String(format: "%.1f", seconds)) s, \(findings) findings, seed \(seed)\(extra)")
  }

  static func saveFinding(_ harness: String, _ name: String, data: Data, note: String) {
    let directory = findings + "/" + harness
    try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    FileManager.default.createFile(atPath: directory + "/" + name, contents: data)
    FileManager.default.createFile(atPath: directory + "/" + name + ".txt", contents: Data(note.utf8))
  }

  @Test("differential: the C fast paths take only what the Swift parsers take, with the same row")
  func textParsersDifferential() throws {
    let schema = TextFastPathTests.schema()
    let csvParser = CSVLineParser(roles: TextFastPathTests.roles)
    let csvSeeds = try Self.lines(Self.corpus + "/text/lines.csv")
    let jsonSeeds = try Self.lines(Self.corpus + "/text/lines.jsonl")
    let alphabet = Array("0123456789,.-+eE \t\r\n\"[]{}:atrufnlsx\\\u{FEFF}".utf8)
    var random = Random(state: Self.seed)
    let started = Date()
    var executions = 0
    var accepted = (csv: 0, json: 0)
    while Date().timeIntervalSince(started) < Self.budget || executions < 2000 {
      let json = executions % 2 == 1
      let seeds = json ? jsonSeeds : csvSeeds
      let bytes = Self.mutate(Array(seeds[random.below(seeds.count)].utf8), &random, alphabet: alphabet)
      let text = bytes + Array("\n{\"next\": 1}\nnext,line\n".utf8)
      let shown = String(decoding: bytes, as: UTF8.self).debugDescription
      if json {
        if TextFastPathTests.agree(text, JSONLLineParser(), schema, shown) { accepted.json += 1 }
      } else {
        if TextFastPathTests.agree(text, csvParser, schema, shown) { accepted.csv += 1 }
      }
      executions += 1
    }
    Self.report(
      "text-differential", executions: executions, started: started, findings: 0,
      extra: " (fast path took \(accepted.csv) CSV and \(accepted.json) JSON lines)")
    #expect(accepted.csv > 50 && accepted.json > 50)
  }

  /// The built executable `name` (from `MTFQI_FUZZ_BIN` when set).
  static func executable(_ name: String) throws -> URL {
    if let bin = environment["MTFQI_FUZZ_BIN"] { return URL(fileURLWithPath: bin + "/" + name) }
    return try Executables.url(name)
  }

  /// Runs one mutated input through a stage and judges the run: nil when it is acceptable,
  /// else what was wrong.
  static func judge(_ run: Executables.Run, directory: String) throws -> String? {
    if run.reason != .exit { return "ended by signal \(run.status)" }
    if ![0, 1, 64].contains(run.status) { return "exit status \(run.status)" }
    let errorLines = run.stderr.split(separator: "\n").filter { $0.hasPrefix("Error:") }
    if run.status == 1 && errorLines.count != 1 { return "exit 1 with \(errorLines.count) Error: lines" }
    if run.stderr.contains("Fatal error") { return "Swift runtime failure" }
    let left = try FileManager.default.contentsOfDirectory(atPath: directory).filter {
      $0.contains(".tmp-") || $0.hasSuffix(".lock")
    }
    if !left.isEmpty { return "left \(left)" }
    return nil
  }

  @Test("whole CSV and JSON Lines files, mutated, through mtfqi-ingest: no trap, one error line, no leftovers")
  func textIngest() throws {
    let ingest = try Self.executable("mtfqi-ingest")
    let seeds = try FileManager.default.contentsOfDirectory(atPath: Self.corpus + "/ingest").sorted().map {
      Self.corpus + "/ingest/" + $0
    }
    try #require(!seeds.isEmpty)
    let directory = try Fixtures.TemporaryDirectory("mtfqi-fuzz-text")
    var random = Random(state: Self.seed &+ 1)
    let alphabet = Array("0123456789,.-+eE \n\"[]{}:".utf8)
    let started = Date()
    var executions = 0
    var found = 0
    var statuses: [Int32: Int] = [:]
    while Date().timeIntervalSince(started) < Self.budget || executions < 10 {
      let seed = seeds[random.below(seeds.count)]
      var bytes = Self.mutate(Array(try Data(contentsOf: URL(fileURLWithPath: seed))), &random, alphabet: alphabet)
      if random.chance(3) {
        // A long array: the documented limit must refuse it as it is read.
        let insert = Array(("[" + String(repeating: "1,", count: 100_000 + random.below(50_000)) + "1]").utf8)
        bytes.insert(contentsOf: insert, at: random.below(bytes.count + 1))
      }
      let ext = URL(fileURLWithPath: seed).pathExtension
      let input = directory.file("input." + ext)
      FileManager.default.createFile(atPath: input, contents: Data(bytes))
      let output = directory.file("store.h5")
      let run = try Executables.run(url: ingest, [input, "-o", output, "--quiet"])
      statuses[run.status, default: 0] += 1
      try? FileManager.default.removeItem(atPath: input)
      if let problem = try Self.judge(run, directory: directory.path) {
        found += 1
        Issue.record("\(seed) mutated: \(problem)\n\(run)")
        Self.saveFinding(
          "text-ingest", "finding-\(executions)." + ext, data: Data(bytes), note: "\(problem)\n\(run)")
        for entry in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
          try? FileManager.default.removeItem(atPath: directory.file(entry))
        }
      }
      try? FileManager.default.removeItem(atPath: output)
      executions += 1
    }
    Self.report("text-ingest", executions: executions, started: started, findings: found, extra: " statuses \(statuses)")
  }

  /// A corrupt copy of an HDF5 file: bit flips and overwritten words (mostly in the first 8 KiB,
  /// where the superblock and object headers are), or a truncation.
  static func corrupt(_ data: Data, _ random: inout Random) -> Data {
    var bytes = [UInt8](data)
    switch random.below(10) {
    case 0:
      bytes.removeLast(random.below(bytes.count))
    case 1, 2:
      // A 64-bit word replaced by a large or negative number (extents, addresses, sizes).
      let words: [UInt64] = [1 << 40, 1 << 62, UInt64.max, UInt64(Int64.max), 0, 1 << 32, 0xFFFF_FFFF]
      let word = words[random.below(words.count)]
      let at = random.below(max(1, min(bytes.count, 8192) - 8))
      for k in 0..<8 where at + k < bytes.count { bytes[at + k] = UInt8((word >> (8 * UInt64(k))) & 0xFF) }
    default:
      for _ in 0...random.below(8) {
        let span = random.chance(80) ? min(bytes.count, 8192) : bytes.count
        let at = random.below(span)
        bytes[at] ^= UInt8(1 << random.below(8))
      }
    }
    return Data(bytes)
  }

  @Test("corrupt HDF5 inputs of every kind, through the stage that reads each: contained, one error line, no leftovers")
  func hdf5Readers() throws {
    let pipeline = try ReuseFixtures.small.get()
    let work = try Fixtures.TemporaryDirectory("mtfqi-fuzz-hdf5")
    // A head to corrupt.
    let head = work.file("seed-head.h5")
    let fit = try Executables.run(
      url: try Self.executable("mtfqi-fit"),
      [pipeline.representation, pipeline.newStore, "--task", "new00", "-o", head, "--quiet"])
    try #require(fit.status == 0, "\(fit)")
    struct Target {
      var kind: String
      var seed: String
      /// The stage and its arguments, given the corrupt file and an output path.
      var command: (String, String) -> (String, [String])
    }
    let d4rl = try FileManager.default.contentsOfDirectory(atPath: Fixtures.path("d4rl")).filter { $0.hasSuffix(".hdf5") }
    let minari = try FileManager.default.contentsOfDirectory(atPath: Fixtures.path("minari")).sorted()
    var targets: [Target] = d4rl.map { name in
      Target(kind: "d4rl", seed: Fixtures.path("d4rl/" + name)) { file, output in ("mtfqi-ingest", [file, "-o", output, "--quiet"]) }
    }
    targets += minari.map { name in
      Target(kind: "minari", seed: Fixtures.minari(name).data) { file, output in
        ("mtfqi-ingest", [URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent().path, "-o", output, "--quiet"])
      }
    }
    targets += [
      Target(kind: "store", seed: pipeline.newStore) { file, output in
        ("mtfqi-fit", [pipeline.representation, file, "--task", "new00", "-o", output, "--quiet"])
      },
      Target(kind: "store-coverage", seed: pipeline.newStore) { file, output in
        ("mtfqi-coverage", [file, "-o", output, "--quiet"])
      },
      Target(kind: "model", seed: pipeline.model) { file, output in ("mtfqi-export", [file, "-o", output, "--quiet"]) },
      Target(kind: "representation", seed: pipeline.representation) { file, output in
        ("mtfqi-fit", [file, pipeline.newStore, "--task", "new00", "-o", output, "--quiet"])
      },
      Target(kind: "head", seed: head) { file, output in ("mtfqi-evaluate", [file, "-o", output, "--quiet"]) },
      Target(kind: "truth", seed: pipeline.truth) { file, output in
        ("mtfqi-evaluate", [pipeline.model, "--truth", file, "-o", output, "--quiet"])
      },
    ]
    var random = Random(state: Self.seed &+ 2)
    let started = Date()
    var executions: [String: Int] = [:]
    var contained: [String: Int] = [:]
    var found = 0
    var round = 0
    // Every target at least once, then random ones until the budget is spent.
    while Date().timeIntervalSince(started) < Self.budget || round < targets.count {
      let target = round < targets.count ? targets[round] : targets[random.below(targets.count)]
      round += 1
      let directory = work.file("run")
      try? FileManager.default.removeItem(atPath: directory)
      var file = directory + "/input.h5"
      if target.kind == "minari" {
        // The whole dataset folder, with its data file corrupted.
        let folder = URL(fileURLWithPath: target.seed).deletingLastPathComponent().deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: folder, toPath: directory + "/dataset")
        file = directory + "/dataset/data/main_data.hdf5"
      } else {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
      }
      let corrupt = Self.corrupt(try Data(contentsOf: URL(fileURLWithPath: target.seed)), &random)
      FileManager.default.createFile(atPath: file, contents: corrupt)
      let output = directory + "/output.h5"
      let (stage, arguments) = target.command(file, output)
      let run = try Executables.run(url: try Self.executable(stage), arguments)
      executions[target.kind, default: 0] += 1
      if run.stderr.contains("the HDF5 library crashed") { contained[target.kind, default: 0] += 1 }
      if let problem = try Self.judge(run, directory: directory) {
        found += 1
        Issue.record("\(target.kind) \(target.seed) corrupted: \(problem)\n\(run)")
        Self.saveFinding(
          "hdf5-\(target.kind)", "finding-\(round).h5", data: corrupt, note: "\(target.seed)\n\(problem)\n\(run)")
      }
    }
    Self.report(
      "hdf5-readers", executions: executions.values.reduce(0, +), started: started, findings: found,
      extra: " per kind \(executions.sorted { $0.key < $1.key }), contained HDF5 crashes \(contained)")
  }
}
