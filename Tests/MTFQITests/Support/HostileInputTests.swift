import Foundation
import Testing

@testable import MTFQI

/// End-to-end: hostile inputs of every file kind (values near the int64 limits, declared sizes
/// far beyond the file, NaN / transposed / non-stochastic downstream files, JSON numbers that
/// are not JSON) end in one clear error naming the file and the field or dataset, a non-zero
/// exit by `exit` (no trap), and nothing written.
@Suite("Hostile inputs: overflow, declared sizes, corrupt downstream files", .serialized)
struct HostileInputTests {
  static let hasH5py =
    Executables.pythonRequired || (try? Executables.runTool([Executables.python, "-c", "import h5py, numpy"]).status) == 0

  /// Runs a stage that must refuse its input: exit 1 by `exit`, one `Error:` line containing
  /// every fragment, no output and no temporary file.
  static func expectRefusal(
    _ stage: String, _ arguments: [String], output: String, _ fragments: [String],
    sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    let run = try Executables.run(stage, arguments)
    #expect(run.reason == .exit && run.status == 1, "\(stage): \(run)", sourceLocation: sourceLocation)
    let lines = run.stderr.split(separator: "\n")
    #expect(lines.count == 1 && lines[0].hasPrefix("Error: "), "\(stage): \(run.stderr)", sourceLocation: sourceLocation)
    for fragment in fragments {
      #expect(run.stderr.contains(fragment), "\(stage): '\(fragment)' not in \(run.stderr)", sourceLocation: sourceLocation)
    }
    #expect(!FileManager.default.fileExists(atPath: output), sourceLocation: sourceLocation)
    let directory = URL(fileURLWithPath: output).deletingLastPathComponent().path
    let left = try FileManager.default.contentsOfDirectory(atPath: directory).filter {
      $0.contains(".tmp-") || $0.hasSuffix(".lock")
    }
    #expect(left.isEmpty, "\(stage) left \(left)", sourceLocation: sourceLocation)
  }

  static let header = "episode,step,obs,action,reward,next_obs,terminated,truncated\n"

  @Test("CSV and JSON Lines: int64-limit values, overflowing episode offsets, long arrays are refused; int64 min, a BOM are taken")
  func textSources() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-hostile-text")
    let store = directory.file("store.h5")
    let near = "9223372036854775806"
    for (field, line) in [
      ("obs", "0,0,\(near),0,0.5,2,0,0"), ("action", "0,0,1,\(near),0.5,2,0,0"),
      ("next_obs", "0,0,1,0,0.5,\(near),0,0"),
    ] {
      let log = directory.file("\(field).csv")
      try (Self.header + line + "\n").write(toFile: log, atomically: true, encoding: .utf8)
      try Self.expectRefusal(
        "mtfqi-ingest", [log, "--task", "a", "-o", store], output: store,
        ["\(log):2: field '\(field)'", "[-2^53, 2^53]", near])
    }
    // Episode ids that cannot be moved past the first file's without overflowing int64.
    let first = directory.file("first.csv")
    let second = directory.file("second.csv")
    try (Self.header + "\(near),0,1,0,0.5,2,0,0\n").write(toFile: first, atomically: true, encoding: .utf8)
    try (Self.header + "-5,0,1,0,0.5,2,0,0\n\(near),0,1,0,0.5,2,0,0\n").write(toFile: second, atomically: true, encoding: .utf8)
    try Self.expectRefusal(
      "mtfqi-ingest", [first, second, "--task", "a", "-o", store], output: store, [second, "overflows int64"])
    // A step at int64 max followed by int64 min is two episodes, not a trap; int64 min is an integer.
    let steps = directory.file("steps.csv")
    try (Self.header + "0,9223372036854775807,1,0,0.5,2,0,0\n0,-9223372036854775808,2,1,0.5,3,0,0\n")
      .write(toFile: steps, atomically: true, encoding: .utf8)
    let taken = try Executables.run("mtfqi-ingest", [steps, "--task", "a", "-o", store, "--quiet"])
    #expect(taken.status == 0, "\(taken)")
    #expect(try StoreReader(path: store).read(task: "a", column: "step", as: Int64.self) == [.max, .min])
    try FileManager.default.removeItem(atPath: store)

    // JSON Lines: an array longer than the documented limit is refused as it is read.
    let long = directory.file("long.jsonl")
    let array = "[" + String(repeating: "1,", count: 20_000) + "1]"
    try "{\"episode\": 0, \"step\": 0, \"obs\": \(array), \"action\": 0, \"reward\": 1, \"next_obs\": \(array), \"terminated\": false, \"truncated\": false}\n"
      .write(toFile: long, atomically: true, encoding: .utf8)
    try Self.expectRefusal(
      "mtfqi-ingest", [long, "--task", "a", "-o", store], output: store,
      ["\(long):1: field 'obs'", "at most 10000 numbers"])
    // RFC 8259 numbers only.
    func record(reward: String, step: String = "0") -> String {
      "{\"episode\": 0, \"step\": \(step), \"obs\": 1, \"action\": 0, \"reward\": \(reward), \"next_obs\": 2, \"terminated\": false, \"truncated\": false}\n"
    }
    for bad in ["01", "+1", "1.", ".5", "-.5"] {
      let log = directory.file("bad.jsonl")
      try record(reward: bad).write(toFile: log, atomically: true, encoding: .utf8)
      try Self.expectRefusal(
        "mtfqi-ingest", [log, "--task", "a", "-o", store], output: store, ["\(log):1: field 'reward'", bad])
    }
    // A leading byte order mark, and int64 min as a step.
    let bom = directory.file("bom.jsonl")
    try ("\u{FEFF}" + record(reward: "0.5", step: "-9223372036854775808") + record(reward: "-1e-3", step: "1"))
      .write(toFile: bom, atomically: true, encoding: .utf8)
    let good = try Executables.run("mtfqi-ingest", [bom, "--task", "a", "-o", store, "--quiet"])
    #expect(good.status == 0, "\(good)")
    let steps64 = try StoreReader(path: store).read(task: "a", column: "step", as: Int64.self)
    #expect(steps64 == [Int64.min, 1])
  }

  @Test("A D4RL file on which the HDF5 library itself crashes (h5dump too): one line, exit 1, nothing left")
  func hdf5LibraryCrash() throws {
    // Found by the fuzzer: a bit-flipped copy of d4rl/nonfinite.hdf5 (2,354 bytes) whose
    // /timeouts makes libhdf5 1.10.8 dereference garbage (SIGSEGV).
    let input = Fixtures.path("hostile/d4rl-crashes-hdf5.hdf5")
    let directory = try Fixtures.TemporaryDirectory("mtfqi-hdf5-crash")
    let store = directory.file("store.h5")
    let run = try Executables.run("mtfqi-ingest", [input, "-o", store, "--quiet"])
    #expect(run.reason == .exit && run.status == 1, "\(run)")
    #expect(
      run.stderr
        == "Error: \(input): the HDF5 library crashed reading /timeouts (the file is corrupt or not what it claims to be)\n",
      "\(run.stderr)")
    // The temporary store and the lock file were removed by the signal handler.
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
  }

  @Test("HDF5 sources: 2^40 declared rows, rows of no values, a Discrete start at int64 max")
  func hdf5Sources() throws {
    try #require(Self.hasH5py, "needs python3 with h5py (PATH=/usr/bin:$PATH)")
    let directory = try Fixtures.TemporaryDirectory("mtfqi-hostile-hdf5")
    let huge = directory.file("huge.hdf5")
    let zero = directory.file("zero.hdf5")
    let script = """
      import h5py, numpy as np, sys
      with h5py.File(sys.argv[1], 'w') as h:
          for k, shape, dt in [('observations', (2**40, 3), 'f8'), ('actions', (2**40, 1), 'f8'), ('rewards', (2**40,), 'f8'), ('terminals', (2**40,), 'u1'), ('timeouts', (2**40,), 'u1')]:
              h.create_dataset(k, shape=shape, dtype=dt, chunks=True)
      with h5py.File(sys.argv[2], 'w') as h:
          n = 10
          h['observations'] = np.zeros((n, 0)); h['actions'] = np.zeros((n, 1)); h['rewards'] = np.zeros(n)
          h['terminals'] = np.zeros(n, 'u1'); h['timeouts'] = np.zeros(n, 'u1')
      """
    let made = try Executables.runTool([Executables.python, "-c", script, huge, zero])
    try #require(made.status == 0, "\(made)")
    #expect(try FileManager.default.attributesOfItem(atPath: huge)[.size] as? Int ?? 0 < 10_000)
    let store = directory.file("store.h5")
    try Self.expectRefusal(
      "mtfqi-ingest", [huge, "-o", store], output: store,
      [huge, "/observations", "1099511627776 x 3", "the file holds"])
    try Self.expectRefusal(
      "mtfqi-ingest", [zero, "-o", store], output: store, [zero, "/observations", "at least one observation value"])
    // A Minari dataset whose action space starts at int64 max (start + n - 1 overflows).
    let folder = directory.file("dataset")
    try FileManager.default.copyItem(atPath: Fixtures.minari("frozenlake-discrete").folder, toPath: folder)
    let metadata = folder + "/data/metadata.json"
    let text = try String(contentsOfFile: metadata, encoding: .utf8)
    try text.replacingOccurrences(of: "\\\"start\\\": 0", with: "\\\"start\\\": 9223372036854775807")
      .write(toFile: metadata, atomically: true, encoding: .utf8)
    try Self.expectRefusal(
      "mtfqi-ingest", [folder, "-o", store], output: store, ["metadata.json", "exceeds the int64 range"])
  }

  @Test("Corrupt stores, models, representations, heads and truth files: refused on read, naming the file and dataset")
  func downstreamFiles() throws {
    try #require(Self.hasH5py, "needs python3 with h5py (PATH=/usr/bin:$PATH)")
    let pipeline = try ReuseFixtures.small.get()
    let directory = try ReuseFixtures.scratch("hostile")
    let head = directory + "/head.h5"
    let fit = try Executables.run(
      "mtfqi-fit", [pipeline.representation, pipeline.newStore, "--task", "new00", "-o", head, "--quiet"])
    try #require(fit.status == 0, "\(fit)")
    /// A copy of `source` changed by the Python statement `change` (on `h`, an h5py File).
    func corrupt(_ source: String, _ name: String, _ change: String) throws -> String {
      let target = directory + "/" + name
      try? FileManager.default.removeItem(atPath: target)
      try FileManager.default.copyItem(atPath: source, toPath: target)
      let run = try Executables.runTool([
        Executables.python, "-c",
        "import h5py, numpy as np, sys\nwith h5py.File(sys.argv[1], 'r+') as h:\n    \(change)", target,
      ])
      try #require(run.status == 0, "\(run)")
      return target
    }
    let out = directory + "/out.h5"
    let json = directory + "/out.json"
    // Stores: a next observation of int64 max on a bootstrapping row (train, fit, export).
    let store = try corrupt(
      pipeline.newStore, "store-next-max.h5",
      "d = h['tasks/new00/next_observations']; d[0] = np.iinfo(np.int64).max; h['tasks/new00/terminations'][0] = 0")
    let trainStore = try corrupt(
      pipeline.store, "train-next-max.h5",
      "t = sorted(h['tasks'])[0]; h['tasks/' + t + '/next_observations'][0] = np.iinfo(np.int64).max; h['tasks/' + t + '/terminations'][0] = 0")
    try Self.expectRefusal(
      "mtfqi-train",
      [trainStore, "-o", out, "--features", "table", "--feature-table", pipeline.features, "--rank", "2", "--quiet"],
      output: out, [trainStore, "next_observations row 0", "outside the observation space"])
    try Self.expectRefusal(
      "mtfqi-fit", [pipeline.representation, store, "--task", "new00", "-o", out], output: out,
      [store, "next_observations row 0"])
    try Self.expectRefusal(
      "mtfqi-export", [pipeline.model, "--store", store, "-o", out], output: out, [store, "next_observations row 0"])
    // Models: rank -3, 2^62, B transposed, B with NaN / 1e308 (export, evaluate, coverage).
    let models = [
      ("rank-negative", "h.attrs.modify('rank', np.int64(-3))", "attribute 'rank'"),
      ("rank-huge", "h.attrs.modify('rank', np.int64(2**62))", "4611686018427387904"),
      ("b-transposed", "b = h['representation/B'][...]; del h['representation/B']; h['representation/B'] = b.T",
       "/representation/B"),
      ("b-nan", "h['representation/B'][0, 0] = np.nan", "/representation/B"),
      ("b-huge", "h['representation/B'][0, 0] = 1e308", "/representation/B"),
      ("w-inf", "h['heads/W'][0, 0] = np.inf", "/heads/W"),
      ("gamma", "h.attrs.modify('gamma', 7.0)", "attribute 'gamma'"),
    ]
    for (name, change, fragment) in models {
      let model = try corrupt(pipeline.model, "model-\(name).h5", change)
      try Self.expectRefusal("mtfqi-export", [model, "-o", out], output: out, [model, fragment])
      try Self.expectRefusal(
        "mtfqi-evaluate", [model, "--truth", pipeline.truth, "-o", json], output: json, [model, fragment])
      try Self.expectRefusal(
        "mtfqi-coverage", [pipeline.store, "--model", model, "-o", json, "--quiet"], output: json, [model, fragment])
    }
    // Representations: a corrupt gamma is the file's fault, not a flag's (exit 1, not 64).
    for (name, change, fragment) in [
      ("gamma", "h.attrs.modify('gamma', 7.0)", "attribute 'gamma'"),
      ("b-nan", "h['representation/B'][0, 0] = np.nan", "/representation/B"),
      ("default-step", "h.attrs.modify('default_step', np.int64(2**62))", "attribute 'default_step'"),
    ] {
      let representation = try corrupt(pipeline.representation, "representation-\(name).h5", change)
      try Self.expectRefusal(
        "mtfqi-fit", [representation, pipeline.newStore, "--task", "new00", "-o", out], output: out,
        [representation, fragment])
    }
    // Heads.
    for (name, change, fragment) in [
      ("w-nan", "h['head/w'][0] = np.nan", "/head/w"),
      ("feature-step", "h['head/feature_step'][0] = 2**62", "/head/feature_step"),
    ] {
      let corrupted = try corrupt(head, "head-\(name).h5", change)
      try Self.expectRefusal("mtfqi-evaluate", [corrupted, "-o", json], output: json, [corrupted, fragment])
    }
    // Truth files: NaN or non-stochastic P, no P, theta of the wrong rank (evaluate, train, coverage).
    for (name, change, fragment) in [
      ("p-nan", "h['model/P'][0, 0, 0] = np.nan", "/model/P"),
      ("p-sum", "h['model/P'][0, 0, 0] += 0.1", "expected 1 within 1e-9"),
      ("no-p", "del h['model/P']", "/model/P: missing"),
      ("theta", "t = h['train/theta'][...]; del h['train/theta']; h['train/theta'] = np.ones((t.shape[0], t.shape[1] + 1))",
       "/train/theta"),
    ] {
      let truth = try corrupt(pipeline.truth, "truth-\(name).h5", change)
      try Self.expectRefusal(
        "mtfqi-evaluate", [pipeline.model, "--truth", truth, "-o", json], output: json, [truth, fragment])
      try Self.expectRefusal(
        "mtfqi-coverage", [pipeline.store, "--truth", truth, "-o", json, "--quiet"], output: json, [truth, fragment])
      try Self.expectRefusal(
        "mtfqi-train",
        [pipeline.store, "-o", out, "--features", "table", "--feature-table", pipeline.features, "--rank", "2",
         "--truth", truth, "--quiet"],
        output: out, [truth, fragment])
    }
  }
}

/// A tmpfs too small for the output (needs root for mount(8); skipped otherwise).
@Suite("Full disk: one line naming the output and the bytes written", .serialized)
struct FullDiskTests {
  @Test("ingest, coverage and evaluate on a full tmpfs: exit 1, one line, no crash, nothing left")
  func smallTmpfs() throws {
    let mountPoint = try Fixtures.TemporaryDirectory("mtfqi-full-disk")
    let mounted = try Executables.runTool(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", mountPoint.path])
    try #require(mounted.status == 0, "cannot mount a tmpfs here (needs root): \(mounted)")
    defer { _ = try? Executables.runTool(["umount", mountPoint.path]) }
    let pipeline = try ReuseFixtures.small.get()
    // Fill most of it, so that every output runs out of space.
    FileManager.default.createFile(atPath: mountPoint.file("fill"), contents: Data(count: 150 * 1024))
    let log = try ReuseFixtures.scratch("full-disk") + "/log.csv"
    try ReuseFixtures.writeLog(log, task: "a", rows: 3000, states: 7, actions: 3)
    let runs: [(String, [String], String)] = [
      ("mtfqi-ingest", [log, "-o", mountPoint.file("store.h5"), "--quiet"], mountPoint.file("store.h5")),
      ("mtfqi-coverage", [pipeline.store, "-o", mountPoint.file("coverage.json"), "--counts", "--quiet"],
       mountPoint.file("coverage.json")),
      ("mtfqi-evaluate", [pipeline.model, "--truth", pipeline.truth, "-o", mountPoint.file("metrics.json"), "--quiet"],
       mountPoint.file("metrics.json")),
    ]
    for (stage, arguments, output) in runs {
      let run = try Executables.run(stage, arguments)
      #expect(run.reason == .exit && run.status == 1, "\(stage): \(run)")
      let lines = run.stderr.split(separator: "\n")
      #expect(lines.count == 1, "\(stage): \(run.stderr)")
      #expect(
        run.stderr.hasPrefix("Error: \(output)") && run.stderr.contains("o space left on")
          && run.stderr.contains("bytes") && !run.stderr.contains("H5FD"),
        "\(stage): \(run.stderr)")
      #expect(try FileManager.default.contentsOfDirectory(atPath: mountPoint.path) == ["fill"], "\(stage)")
    }
  }
}
