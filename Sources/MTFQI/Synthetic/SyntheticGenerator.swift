import Foundation

/// One file written by the generator.
public struct SyntheticOutputFile: Sendable, Equatable {
  /// The path, as given (directory + relative path).
  public var path: String
  public var bytes: Int
  /// Logged transitions in the file (nil for HDF5 files).
  public var rows: Int?
}

/// What `SyntheticGenerator.generate` wrote.
public struct SyntheticSummary: Sendable {
  public var directory: String
  /// In write order: logs of training tasks, logs of held-out tasks, features.h5, truth.h5.
  public var files: [SyntheticOutputFile]
  public var family: LowRankMDPFamily
  public var seconds: Double

  /// A few lines for people: what was written where.
  public var report: String {
    let p = family.parameters
    let mode: String
    switch p.objective {
    case .discounted(let gamma): mode = "discounted, gamma = \(gamma)"
    case .finiteHorizon(let horizon): mode = "finite horizon, H = \(horizon)"
    }
    let logs = files.filter { $0.rows != nil }
    let rows = logs.reduce(0) { $0 + ($1.rows ?? 0) }
    let bytes = files.reduce(0) { $0 + $1.bytes }
    var lines = [
      "mtfqi-synth: S = \(p.states), A = \(p.actions), k = \(p.rank), d = \(p.dim), \(mode), sampling \(p.sampling.rawValue), epsilon = \(p.epsilon), noise = \(p.noise), seed = \(p.seed)",
      "  \(p.tasks) training task(s) x \(p.samples) transitions in \(directory)/train",
    ]
    if p.newTasks > 0 {
      lines.append(
        "  \(p.newTasks) held-out task(s) x \(p.newSamples) transitions in \(directory)/new")
    }
    lines.append("  feature table: \(directory)/features.h5; ground truth: \(directory)/truth.h5")
    lines.append(
      "  \(files.count) files, \(logs.count) logs, \(rows) transitions, \(bytes) bytes in "
        + String(format: "%.2f", seconds) + " s")
    return lines.joined(separator: "\n")
  }
}

/// The library entry point of `mtfqi-synth`: draw the family, solve every task, write the logs,
/// the feature table and truth.h5.
///
/// Layout under `directory` (created if missing): `train/<task>.<csv|jsonl>`,
/// `new/<task>.<csv|jsonl>` (only when there are held-out tasks), `features.h5`, `truth.h5`.
/// Every file is written atomically (temporary file + rename); existing files of the same name
/// are replaced, other files are left alone. Logs of different tasks are written on parallel
/// threads; each task's bytes depend only on its own stream, so the output is deterministic.
public enum SyntheticGenerator {
  public static let trainDirectory = "train"
  public static let heldOutDirectory = "new"
  public static let featureTableFile = "features.h5"
  public static let truthFile = "truth.h5"
  /// Bytes buffered before each `fwrite`.
  static let blockSize = 1 << 20

  public static func generate(
    _ parameters: SyntheticParameters, into directory: String,
    formats: [SyntheticLogFormat] = [.csv],
    progress: (@Sendable (String) -> Void)? = nil
  ) throws(SyntheticError) -> SyntheticSummary {
    let started = Date()
    try parameters.validate()
    if formats.isEmpty { throw SyntheticError.invalidParameter("no log format given") }
    let family = try LowRankMDPFamily(parameters: parameters)
    progress?("solved \(parameters.tasks + parameters.newTasks) task(s) exactly")

    let trainPath = directory + "/" + trainDirectory
    let heldOutPath = directory + "/" + heldOutDirectory
    do throws(MTFQIError) {
      try makeDirectories(trainPath)
      if parameters.newTasks > 0 { try makeDirectories(heldOutPath) }
    } catch {
      throw SyntheticError.output(error)
    }

    let tables = SyntheticSamplingTables(family: family)
    let jobs =
      family.trainingTasks.map { ($0, trainPath, parameters.samples) }
      + family.heldOutTasks.map { ($0, heldOutPath, parameters.newSamples) }
    let results = ResultSlots(count: jobs.count)
    DispatchQueue.concurrentPerform(iterations: jobs.count) { index in
      let (task, folder, count) = jobs[index]
      do throws(MTFQIError) {
        let files = try writeLog(
          family: family, tables: tables, task: task, count: count, folder: folder,
          formats: formats)
        results.set(index, .success(files))
        progress?("\(task.name): \(count) transitions")
      } catch {
        results.set(index, .failure(error))
      }
    }
    var files: [SyntheticOutputFile] = []
    for result in results.values {
      switch result {
      case .success(let written): files += written
      case .failure(let error): throw SyntheticError.output(error)
      case nil: throw SyntheticError.output(.io(path: directory, message: "a log was not written"))
      }
    }

    do {
      let featurePath = directory + "/" + featureTableFile
      try SyntheticTruthWriter.writeFeatureTable(family, to: featurePath)
      files.append(SyntheticOutputFile(path: featurePath, bytes: fileSize(featurePath), rows: nil))
      let truthPath = directory + "/" + truthFile
      try SyntheticTruthWriter.writeTruth(family, to: truthPath)
      files.append(SyntheticOutputFile(path: truthPath, bytes: fileSize(truthPath), rows: nil))
    } catch {
      throw SyntheticError.output(error)
    }
    progress?("wrote features.h5 and truth.h5")
    return SyntheticSummary(
      directory: directory, files: files, family: family,
      seconds: Date().timeIntervalSince(started))
  }

  /// Writes one task's log in every format, drawing each row once.
  static func writeLog(
    family: LowRankMDPFamily, tables: SyntheticSamplingTables, task: SyntheticTask, count: Int,
    folder: String, formats: [SyntheticLogFormat]
  ) throws(MTFQIError) -> [SyntheticOutputFile] {
    let encoders = formats.map {
      SyntheticLineEncoder(
        format: $0, taskName: task.name, behaviorPolicy: family.behaviorPolicy,
        actions: family.actions)
    }
    var outputs: [SyntheticLogFile] = []
    for format in formats {
      outputs.append(
        try SyntheticLogFile(path: folder + "/" + task.name + "." + format.fileExtension))
    }
    var buffers = encoders.map { encoder -> [UInt8] in
      var buffer = encoder.fileHeader
      buffer.reserveCapacity(blockSize + 4096)
      return buffer
    }
    var sampler = TransitionSampler(family: family, tables: tables, task: task, count: count)
    while let row = sampler.next() {
      for index in encoders.indices {
        encoders[index].append(row, to: &buffers[index])
        if buffers[index].count >= blockSize {
          try outputs[index].write(buffers[index])
          buffers[index].removeAll(keepingCapacity: true)
        }
      }
    }
    var files: [SyntheticOutputFile] = []
    for index in outputs.indices {
      try outputs[index].write(buffers[index])
      try outputs[index].commit()
      files.append(
        SyntheticOutputFile(
          path: outputs[index].path, bytes: outputs[index].bytesWritten, rows: count))
    }
    return files
  }

  /// `mkdir -p`: creates `path` and its missing parents (mode 0755); existing directories are
  /// fine. The error names the component that could not be created and the system's reason.
  static func makeDirectories(_ path: String) throws(MTFQIError) {
    var prefix = path.hasPrefix("/") ? "/" : ""
    for component in path.split(separator: "/") {
      prefix += (prefix.isEmpty || prefix.hasSuffix("/") ? "" : "/") + component
      if mkdir(prefix, 0o755) == 0 { continue }
      let code = errno
      var info = stat()
      if code == EEXIST && stat(prefix, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
        continue
      }
      let reason =
        code == EEXIST ? "it exists and is not a directory" : String(cString: strerror(code))
      throw MTFQIError.io(path: prefix, message: "cannot create the output directory: \(reason)")
    }
  }

  /// The size of a file just written, for the report only (0 if `stat` fails).
  static func fileSize(_ path: String) -> Int {
    var info = stat()
    return stat(path, &info) == 0 ? Int(info.st_size) : 0
  }
}

/// Per-job results filled from `concurrentPerform` threads.
private final class ResultSlots: @unchecked Sendable {
  private let lock = NSLock()
  private var slots: [Result<[SyntheticOutputFile], MTFQIError>?]

  init(count: Int) { slots = Array(repeating: nil, count: count) }

  func set(_ index: Int, _ result: Result<[SyntheticOutputFile], MTFQIError>) {
    lock.lock()
    defer { lock.unlock() }
    slots[index] = result
  }

  var values: [Result<[SyntheticOutputFile], MTFQIError>?] {
    lock.lock()
    defer { lock.unlock() }
    return slots
  }
}
