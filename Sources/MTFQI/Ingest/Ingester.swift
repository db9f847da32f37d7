import Foundation

/// The per-task part of an ingest summary.
public struct IngestTaskSummary: Codable, Sendable {
  public var name: String
  public var transitions: Int
  public var episodes: Int
  public var observationSpace: String
  public var observationSpaceOrigin: String
  public var actionSpace: String
  public var actionSpaceOrigin: String
  public var sources: [SourceRecord]

  enum CodingKeys: String, CodingKey {
    case name, transitions, episodes, sources
    case observationSpace = "observation_space"
    case observationSpaceOrigin = "observation_space_origin"
    case actionSpace = "action_space"
    case actionSpaceOrigin = "action_space_origin"
  }
}

/// What `mtfqi-ingest --json` prints.
public struct IngestSummary: Codable, Sendable {
  public var output: String
  public var rowsRead: Int
  public var rowsRejected: Int
  public var rowsStored: Int
  public var nextObservationMismatches: Int
  /// Tasks written by this run.
  public var tasks: [IngestTaskSummary]
  /// Tasks kept from the existing store (`--append`).
  public var keptTasks: [String]
  public var rejectionReport: String?
  public var seconds: Double
  /// The store's spaces after this run (every task's data inside them) and their origins.
  public var observationSpace: String
  public var observationSpaceOrigin: String
  public var actionSpace: String
  public var actionSpaceOrigin: String

  enum CodingKeys: String, CodingKey {
    case output, tasks, seconds
    case observationSpace = "observation_space"
    case observationSpaceOrigin = "observation_space_origin"
    case actionSpace = "action_space"
    case actionSpaceOrigin = "action_space_origin"
    case rowsRead = "rows_read"
    case rowsRejected = "rows_rejected"
    case rowsStored = "rows_stored"
    case nextObservationMismatches = "next_observation_mismatches"
    case keptTasks = "kept_tasks"
    case rejectionReport = "rejection_report"
  }
}

/// `mtfqi-ingest`: reads every input into one new store file and renames it into place.
public enum Ingester {
  /// Detects an input's format: a folder is a Minari dataset; otherwise by name
  /// (.csv[.gz], .jsonl/.ndjson[.gz], .h5/.hdf5) — Minari's data/main_data.hdf5 inside a
  /// folder is read through the folder.
  public static func detectFormat(_ path: String) throws(MTFQIError) -> InputFormat {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw MTFQIError.io(path: path, message: "no such file or folder")
    }
    if isDirectory.boolValue { return .minari }
    var name = path.lowercased()
    if name.hasSuffix(".gz") { name.removeLast(3) }
    if name.hasSuffix(".csv") { return .csv }
    if name.hasSuffix(".jsonl") || name.hasSuffix(".ndjson") || name.hasSuffix(".json") { return .jsonl }
    if name.hasSuffix(".h5") || name.hasSuffix(".hdf5") { return .d4rl }
    throw MTFQIError.invalidInput(
      "\(path): cannot tell the format from the name (expected .csv, .jsonl, .ndjson, optionally .gz, .h5/.hdf5, or a Minari dataset folder); pass --format")
  }

  public static func run(_ options: IngestOptions) throws(MTFQIError) -> IngestSummary {
    let started = Date()
    guard !options.inputs.isEmpty else { throw MTFQIError.invalidInput("no input files given") }
    let formats = try options.inputs.map { (path) throws(MTFQIError) -> InputFormat in
      if let format = options.format {
        guard FileManager.default.fileExists(atPath: path) else {
          throw MTFQIError.io(path: path, message: "no such file or folder")
        }
        return format
      }
      return try detectFormat(path)
    }
    // One writer at a time: the lock is taken before the old store is read and held until the
    // new one is renamed over it, so a concurrent --append cannot lose this run's tasks or its own.
    let outputLock = try OutputLock(destination: options.output)
    defer { outputLock.release() }
    var existing: StoreReader?
    if options.append && FileManager.default.fileExists(atPath: options.output) {
      existing = try StoreReader(path: options.output)
    }
    // The existing store's declared spaces are the store's: this call's data is checked
    // against them row by row, as if they had been given on the command line.
    var options = options
    var leadingObservation: StoreSpaces.Part?
    var leadingAction: StoreSpaces.Part?
    if let existing, !existing.taskNames.isEmpty {
      let spaces = try existing.spaces()
      if spaces.observationDeclared {
        leadingObservation = StoreSpaces.Part(space: spaces.observation, declared: true, source: "the store \(options.output)")
        if options.observationSpace == nil { options.observationSpace = spaces.observation }
      }
      if spaces.actionDeclared {
        leadingAction = StoreSpaces.Part(space: spaces.action, declared: true, source: "the store \(options.output)")
        if options.actionSpace == nil { options.actionSpace = spaces.action }
      }
    }
    let store = try StoreWriter(destination: options.output, compression: options.compression)
    store.leadingObservation = leadingObservation
    store.leadingAction = leadingAction
    var succeeded = false
    defer { if !succeeded { store.abort() } }
    let preexisting = options.replace ? Set<String>() : Set(existing?.taskNames ?? [])
    let progress = options.showProgress ? Progress() : nil
    defer { progress?.finish() }
    let context = IngestContext(options: options, store: store, preexistingTasks: preexisting, progress: progress)
    for (path, format) in zip(options.inputs, formats) {
      switch format {
      case .csv: try TextReader.ingest(path: path, kind: .csv, context: context)
      case .jsonl: try TextReader.ingest(path: path, kind: .jsonl, context: context)
      case .minari: try MinariReader.ingest(path: path, context: context)
      case .d4rl: try D4RLReader.ingest(path: path, context: context)
      }
      try context.finishSources()
    }
    // Gather the summary before the writers are finished and released.
    var tasks: [IngestTaskSummary] = []
    for name in store.writtenTaskNames {
      guard let writer = store.existingWriter(name) else { continue }
      let observation = writer.observationSpace()
      let action = writer.actionSpace()
      tasks.append(
        IngestTaskSummary(
          name: name, transitions: writer.rowCount, episodes: writer.episodeCount,
          observationSpace: observation.space.json, observationSpaceOrigin: observation.declared ? "declared" : "inferred",
          actionSpace: action.space.json, actionSpaceOrigin: action.declared ? "declared" : "inferred",
          sources: writer.sources))
    }
    let rowsStored = tasks.reduce(0) { $0 + $1.transitions }
    var reportPath: String?
    if options.skipInvalid {
      // Written even when the run fails for want of good rows: it says why.
      let path = options.rejectReport ?? options.output + ".rejects.jsonl"
      try writeRejections(context.rejections, to: path)
      reportPath = path
    }
    guard rowsStored > 0 else {
      throw MTFQIError.invalidInput(
        "\(options.inputs.joined(separator: ", ")): no transitions to store (every input is empty\(context.rejectionCount > 0 ? " or every row was rejected; see \(reportPath ?? "the rejection report")" : ""))")
    }
    // Tasks of the existing store that this run did not write are carried over unchanged.
    if let existing {
      let written = Set(store.writtenTaskNames)
      try store.copyTasks(from: existing, excluding: written)
    }
    let spaces = try store.storeSpaces()
    try store.commit()
    succeeded = true
    let sources = tasks.flatMap(\.sources)
    return IngestSummary(
      output: options.output,
      rowsRead: sources.reduce(0) { $0 + $1.rowsRead },
      rowsRejected: context.rejectionCount,
      rowsStored: rowsStored,
      nextObservationMismatches: sources.reduce(0) { $0 + $1.nextObservationMismatches },
      tasks: tasks, keptTasks: store.copiedTasks, rejectionReport: reportPath,
      seconds: Date().timeIntervalSince(started),
      observationSpace: spaces?.observation.json ?? "",
      observationSpaceOrigin: (spaces?.observationDeclared ?? false) ? "declared" : "inferred",
      actionSpace: spaces?.action.json ?? "",
      actionSpaceOrigin: (spaces?.actionDeclared ?? false) ? "declared" : "inferred")
  }

  static func writeRejections(_ rejections: [Rejection], to path: String) throws(MTFQIError) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    var text = Data()
    for rejection in rejections {
      do {
        text.append(try encoder.encode(rejection))
      } catch {
        throw MTFQIError.io(path: path, message: "cannot encode a rejection: \(error)")
      }
      text.append(0x0A)
    }
    try AtomicOutput.writeData(text, to: path)
  }
}
