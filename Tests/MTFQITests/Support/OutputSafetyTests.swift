import Foundation
import Testing

@testable import MTFQI

/// End-to-end: the same-path guard of every stage, one writer at a time per output, and signal
/// hygiene (no temporary file survives SIGTERM / SIGINT), on the built executables.
@Suite("Output safety: same-path guard, writer lock, signals", .serialized)
struct OutputSafetyTests {
  /// A copy of `path` in `directory` (the suite's shared files are never offered as outputs).
  static func copy(_ path: String, to directory: String, as name: String? = nil) throws -> String {
    let target = directory + "/" + (name ?? URL(fileURLWithPath: path).lastPathComponent)
    try FileManager.default.copyItem(atPath: path, toPath: target)
    return target
  }

  /// Runs a stage whose output is one of its inputs: exit 64, one message naming the output and
  /// the input, the input byte for byte unchanged and no temporary file beside it.
  static func expectRefusal(
    _ stage: String, _ arguments: [String], output: String, input: String, untouched: [String],
    sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    let before = try untouched.map(Fixtures.sha256)
    let run = try Executables.run(stage, arguments)
    #expect(run.status == 64 && run.reason == .exit, "\(stage): \(run)", sourceLocation: sourceLocation)
    #expect(
      run.stderr.contains("Error: ") && run.stderr.contains(output) && run.stderr.contains(input)
        && run.stderr.contains("refusing to write over"),
      "\(stage): \(run.stderr)", sourceLocation: sourceLocation)
    #expect(try untouched.map(Fixtures.sha256) == before, "\(stage) changed an input", sourceLocation: sourceLocation)
    for file in untouched {
      let directory = URL(fileURLWithPath: file).deletingLastPathComponent().path
      let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory).filter {
        $0.contains(".tmp-")
      }
      #expect(leftovers.isEmpty, "\(stage) left \(leftovers)", sourceLocation: sourceLocation)
    }
  }

  @Test("Every stage refuses an output that is one of its inputs (same path, symlink, hard link): exit 64, nothing changed")
  func samePathEveryStage() throws {
    let pipeline = try ReuseFixtures.small.get()
    let directory = try ReuseFixtures.scratch("same-path")
    let store = try Self.copy(pipeline.store, to: directory)
    let newStore = try Self.copy(pipeline.newStore, to: directory)
    let features = try Self.copy(pipeline.features, to: directory)
    let truth = try Self.copy(pipeline.truth, to: directory)
    let model = try Self.copy(pipeline.model, to: directory)
    let representation = try Self.copy(pipeline.representation, to: directory)
    let log = directory + "/log.csv"
    try ReuseFixtures.writeLog(log, task: "a", rows: 30, states: 5, actions: 2)
    let link = directory + "/link.csv"
    try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: log)
    let hardLink = directory + "/model-hard-link.h5"
    try FileManager.default.linkItem(atPath: model, toPath: hardLink)
    // A head to evaluate (written before the refusals are tried).
    let head = directory + "/head.h5"
    let fit = try Executables.run(
      "mtfqi-fit", [representation, newStore, "--task", "new00", "-o", head, "--quiet"])
    try #require(fit.status == 0, "\(fit)")

    // ingest: the log itself, and the log through a symbolic link; the reject report too.
    try Self.expectRefusal(
      "mtfqi-ingest", [log, "-o", log], output: log, input: log, untouched: [log])
    try Self.expectRefusal(
      "mtfqi-ingest", [log, "-o", link], output: link, input: log, untouched: [log])
    try Self.expectRefusal(
      "mtfqi-ingest", [log, "-o", directory + "/s.h5", "--skip-invalid", "--reject-report", log],
      output: log, input: log, untouched: [log])
    // coverage: the store, the truth, the feature table.
    try Self.expectRefusal(
      "mtfqi-coverage", [store, "-o", store], output: store, input: store, untouched: [store])
    try Self.expectRefusal(
      "mtfqi-coverage", [store, "--truth", truth, "--features", "table:" + features, "-o", features],
      output: features, input: features, untouched: [store, truth, features])
    // train: the store, the feature table, the truth.
    let trainFlags = ["--features", "table", "--feature-table", features, "--rank", "2", "--quiet"]
    try Self.expectRefusal(
      "mtfqi-train", [store, "-o", store] + trainFlags, output: store, input: store, untouched: [store])
    try Self.expectRefusal(
      "mtfqi-train", [store, "-o", truth, "--truth", truth] + trainFlags, output: truth, input: truth,
      untouched: [store, truth, features])
    // train --q-tables DIR: DIR/<task>.csv would replace an input stored under that name.
    let qDirectory = directory + "/q"
    try FileManager.default.createDirectory(atPath: qDirectory, withIntermediateDirectories: true)
    let storeAsCSV = try Self.copy(store, to: qDirectory, as: "t00.csv")
    try Self.expectRefusal(
      "mtfqi-train", [storeAsCSV, "-o", directory + "/m.h5", "--q-tables", qDirectory] + trainFlags,
      output: qDirectory, input: storeAsCSV, untouched: [storeAsCSV])
    #expect(!FileManager.default.fileExists(atPath: directory + "/m.h5"))
    // export: the model (through a hard link), the store.
    try Self.expectRefusal(
      "mtfqi-export", [model, "-o", hardLink], output: hardLink, input: model, untouched: [model])
    try Self.expectRefusal(
      "mtfqi-export", [model, "--store", newStore, "-o", newStore], output: newStore, input: newStore,
      untouched: [model, newStore])
    // fit: the representation, the store, the truth; and --q-tables.
    try Self.expectRefusal(
      "mtfqi-fit", [representation, newStore, "--task", "new00", "-o", representation],
      output: representation, input: representation, untouched: [representation, newStore])
    try Self.expectRefusal(
      "mtfqi-fit", [representation, newStore, "--task", "new00", "--truth", truth, "-o", truth],
      output: truth, input: truth, untouched: [representation, newStore, truth])
    let newAsCSV = try Self.copy(newStore, to: qDirectory, as: "new00.csv")
    try Self.expectRefusal(
      "mtfqi-fit",
      [representation, newAsCSV, "--task", "new00", "-o", directory + "/h2.h5", "--q-tables", qDirectory],
      output: qDirectory, input: newAsCSV, untouched: [newAsCSV])
    // evaluate: a head, the model, the truth.
    try Self.expectRefusal(
      "mtfqi-evaluate", [model, head, "--truth", truth, "-o", head], output: head, input: head,
      untouched: [model, head, truth])
    try Self.expectRefusal(
      "mtfqi-evaluate", [model, head, "--truth", truth, "-o", truth], output: truth, input: truth,
      untouched: [model, head, truth])
    // report: the page over the store or the model it reads.
    try Self.expectRefusal(
      "mtfqi-report", ["--store", newStore, "--model", model, "-o", model], output: model, input: model,
      untouched: [model, newStore])
    try Self.expectRefusal(
      "mtfqi-report", ["--store", newStore, "-o", newStore], output: newStore, input: newStore,
      untouched: [newStore])
    // synth reads no files; its output folder may not be an existing file (exit 1), which stays.
    let synth = try Executables.run("mtfqi-synth", ["-o", log, "--quiet"])
    #expect(synth.status == 1 && synth.stderr.contains(log), "\(synth)")
    #expect(try String(contentsOfFile: log, encoding: .utf8).hasPrefix("task,episode"))
  }

  @Test("The library guard: AtomicOutput refuses a registered input (the last line of defence)")
  func atomicOutputRefusesAnInput() throws {
    let directory = try Fixtures.TemporaryDirectory()
    let input = directory.file("in.csv")
    try "x\n".write(toFile: input, atomically: true, encoding: .utf8)
    OutputGuard.register(inputs: [input])
    do {
      _ = try AtomicOutput(destination: directory.path + "/./in.csv")
      Issue.record("AtomicOutput accepted an input as its destination")
    } catch {
      #expect(error.description.contains("is the input \(input)"), "\(error)")
    }
    #expect(try String(contentsOfFile: input, encoding: .utf8) == "x\n")
  }

  @Test("Four concurrent --append ingests into one store end with every task present")
  func concurrentAppenders() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-appenders")
    let store = directory.file("store.h5")
    let binary = try Executables.url("mtfqi-ingest")
    let names = ["a", "b", "c", "d"]
    for name in names {
      try ReuseFixtures.writeLog(directory.file("\(name).csv"), task: name, rows: 2000, states: 7, actions: 3)
    }
    let processes = try names.map { name in
      try Executables.start(url: binary, [directory.file("\(name).csv"), "--task", name, "-o", store, "--append", "--quiet"])
    }
    for process in processes {
      let run = try process.finish()
      #expect(run.status == 0, "\(run)")
    }
    let inspect = try Executables.run("mtfqi-inspect", [store, "--task-names"])
    #expect(inspect.status == 0, "\(inspect)")
    #expect(inspect.stdout.split(separator: "\n").map(String.init).sorted() == names, "\(inspect)")
    let reader = try StoreReader(path: store)
    #expect(try names.map { try reader.info($0).transitions } == [2000, 2000, 2000, 2000])
  }

  @Test("A second writer waits for the lock and says so; with --no-wait it fails at once")
  func secondWriterWaitsOrFails() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-lock")
    let store = directory.file("store.h5")
    let log = directory.file("a.csv")
    try ReuseFixtures.writeLog(log, task: "a", rows: 50, states: 7, actions: 3)
    var held: OutputLock? = try OutputLock(destination: store)
    let refused = try Executables.run("mtfqi-ingest", [log, "-o", store, "--no-wait", "--quiet"])
    #expect(refused.status == 1 && refused.stderr.contains("another process is writing"), "\(refused)")
    #expect(!FileManager.default.fileExists(atPath: store))

    let process = try Executables.start("mtfqi-ingest", [log, "-o", store, "--quiet"])
    let capture = process.capture
    // Wait (bounded) until the second writer reports that it is waiting, then let it go.
    var said = false
    for _ in 0..<3000 where !said {
      said = try capture.readStderr().contains("waiting for another process writing \(store)")
      if !said { usleep(10_000) }
    }
    let waitingStderr = try capture.readStderr()
    #expect(said, "the waiting writer said nothing: \(waitingStderr)")
    #expect(process.isRunning && !FileManager.default.fileExists(atPath: store))
    held?.release()
    held = nil
    let finished = try process.finish()
    #expect(finished.status == 0, "\(finished)")
    #expect(FileManager.default.fileExists(atPath: store))
  }

  /// Starts `arguments` on `stage`, waits until `started()` says the run is under way (its
  /// temporary output exists), sends `signal` and returns what the process did.
  static func interrupt(
    _ stage: String, _ arguments: [String], signal: Int32, directory: String, output: String,
    whileWaiting: () throws -> Void = {}
  ) throws -> Executables.Run {
    let process = try Executables.start(stage, arguments)
    let temporary = directory + "/." + URL(fileURLWithPath: output).lastPathComponent + ".tmp-\(process.pid)"
    var seen = false
    for _ in 0..<6000 where process.isRunning && !seen {
      try whileWaiting()
      var info = stat()
      seen = stat(temporary, &info) == 0 && info.st_size > 0
      if !seen { usleep(5_000) }
    }
    if seen { kill(process.pid, signal) }
    return try process.finish()
  }

  @Test("SIGTERM and SIGINT in the middle of an ingest leave no temporary file", arguments: [SIGTERM, SIGINT])
  func signalMidIngest(_ signal: Int32) throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-signal")
    // The log comes through a FIFO that this test feeds: the ingest is certainly still running
    // (blocked on its input) when its temporary store has appeared.
    let fifo = directory.file("log.csv")
    try #require(mkfifo(fifo, 0o600) == 0)
    let store = directory.file("store.h5")
    let process = try Executables.start("mtfqi-ingest", [fifo, "--task", "a", "-o", store, "--quiet"])
    let writer = try #require(FileHandle(forWritingAtPath: fifo))
    var block = "episode,step,obs,action,reward,next_obs,terminated,truncated\n"
    for i in 0..<200_000 { block += "\(i),0,\(i % 7),\(i % 3),0.5,\(i % 5),0,1\n" }
    writer.write(Data(block.utf8))
    let temporary = directory.file(".store.h5.tmp-\(process.pid)")
    var seen = false
    for _ in 0..<6000 where process.isRunning && !seen {
      seen = FileManager.default.fileExists(atPath: temporary)
      if !seen { usleep(5_000) }
    }
    let ingestStderr = try process.capture.readStderr()
    #expect(seen, "the ingest never created \(temporary): \(ingestStderr)")
    kill(process.pid, signal)
    let run = try process.finish()
    try? writer.close()
    #expect(run.reason == .uncaughtSignal && run.status == signal, "\(run)")
    // Only the log remains: no temporary store, no store (and no lock file).
    let left = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
    #expect(left == ["log.csv"], "left behind: \(left)")
  }

  @Test("SIGTERM and SIGINT in the middle of an export leave no temporary file", arguments: [SIGTERM, SIGINT])
  func signalMidExport(_ signal: Int32) throws {
    let pipeline = try ReuseFixtures.small.get()
    let directory = try ReuseFixtures.scratch("signal-export")
    // A store large enough that materialising its features takes a while; when the export
    // finishes before the signal could be sent, the store is made larger and the run repeated.
    var rows = 200_000
    for _ in 0..<4 {
      let log = directory + "/big.csv"
      try ReuseFixtures.writeLog(log, task: "big", rows: rows, states: ReuseFixtures.states, actions: ReuseFixtures.actions)
      let store = directory + "/big.h5"
      let ingest = try Executables.run(
        "mtfqi-ingest",
        [log, "-o", store, "--quiet", "--observation-space", "discrete:\(ReuseFixtures.states)",
         "--action-space", "discrete:\(ReuseFixtures.actions)"])
      try #require(ingest.status == 0, "\(ingest)")
      try FileManager.default.removeItem(atPath: log)
      let output = directory + "/representation.h5"
      let run = try Self.interrupt(
        "mtfqi-export", [pipeline.model, "--store", store, "-o", output, "--quiet"], signal: signal,
        directory: directory, output: output)
      let left = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
      if run.reason == .exit && run.status == 0 {
        // Finished before it could be interrupted: try again with more rows.
        try FileManager.default.removeItem(atPath: output)
        try FileManager.default.removeItem(atPath: store)
        rows *= 4
        continue
      }
      #expect(run.reason == .uncaughtSignal && run.status == signal, "\(run)")
      #expect(left == ["big.h5"], "left behind: \(left)")
      return
    }
    Issue.record("every export finished before it could be interrupted")
  }
}
