import Foundation

/// Minari dataset folders, as `minari.DataCollector.create_dataset` writes them.
///
/// Layouts read:
/// - Minari 0.5: `DATASET/data/metadata.json` (also accepted at `DATASET/metadata.json`) beside
///   `DATASET/data/main_data.hdf5`; `observation_space` and `action_space` are JSON text in
///   `minari.serialization`'s format.
/// - Older Minari (0.4 and before): no metadata.json; the same keys are string and integer
///   attributes of the root group of `data/main_data.hdf5`.
/// The input path may be the dataset folder or its `data` folder.
///
/// Each group `episode_<id>` holds `observations` (T+1 rows), `actions`, `rewards`,
/// `terminations` and `truncations` (T rows each); `infos` is ignored. Transition t of the
/// episode is (observations[t], actions[t], rewards[t], observations[t+1], terminations[t],
/// truncations[t]), stored with episode = <id> and step = t.
///
/// Spaces are declared by the dataset; only Discrete and Box are supported (Dict, Tuple, Text,
/// MultiDiscrete, ... and JPEG-encoded image observations are refused, naming the space).
/// Observations and actions keep their stored dtype (Box: float32 or float64; Discrete: int64);
/// rewards become float64 exactly (64-bit integer rewards beyond +-2^53 are an error naming the
/// row) and their source dtype is recorded.
///
/// The task is `--task`, or else the dataset id made into a task name: every character other
/// than letters, digits, '_', '-' and '.' becomes '_' (so "D4RL/door/human-v2" becomes
/// "D4RL_door_human-v2"), leading dots are dropped, at most 128 characters.
enum MinariReader {
  static let dataFileName = "main_data.hdf5"
  static let metadataFileName = "metadata.json"

  /// The dataset's metadata, from metadata.json or the root attributes.
  struct Metadata {
    var observationSpace: String?
    var actionSpace: String?
    var datasetID: String?
    var totalEpisodes: Int64?
    var totalSteps: Int64?
    var jpegEncoding = false
    var dataFormat: String?
    /// Where it was read from, for messages: the metadata.json path or "FILE: root attributes".
    var origin: String
  }

  /// One episode group with its datasets, checked for consistent lengths.
  struct Episode {
    var id: Int64
    var path: String
    var observations: HDF5Dataset
    var actions: HDF5Dataset
    var rewards: HDF5Dataset
    var terminations: HDF5Dataset
    var truncations: HDF5Dataset
    /// T: the number of transitions.
    var steps: Int { actions.rows }
  }

  static func ingest(path: String, context: IngestContext) throws(MTFQIError) {
    let location = try locate(path)
    let dataFile = location.data
    let file = try HDF5Source.run { () throws(HDF5Error) in try HDF5File.open(dataFile) }
    let root = try HDF5Source.run { () throws(HDF5Error) in try file.root() }
    let metadata = try readMetadata(metadataFile: location.metadata, root: root, dataFile: dataFile)
    if let format = metadata.dataFormat, format != "hdf5" {
      throw MTFQIError.invalidInput(
        "\(metadata.origin): data_format is \"\(format)\"; mtfqi reads Minari datasets in the hdf5 format"
      )
    }
    let observationSpace = try space(
      metadata.observationSpace, key: "observation_space", metadata: metadata)
    let actionSpace = try space(metadata.actionSpace, key: "action_space", metadata: metadata)

    // First pass: every episode's layout, before anything is written.
    let episodeList = try episodeNames(root, dataFile: dataFile)
    if let expected = metadata.totalEpisodes, expected != Int64(episodeList.count) {
      throw MTFQIError.invalidInput(
        "\(dataFile): /: expected \(expected) episode groups (total_episodes in \(metadata.origin)), found \(episodeList.count)"
      )
    }
    var totalSteps = 0
    var observationType: HDF5ElementType?
    var actionType: HDF5ElementType?
    var rewardDtypes = Set<String>()
    for (id, name) in episodeList {
      let episode = try openEpisode(root, id: id, name: name, dataFile: dataFile)
      try checkColumn(
        episode.observations, space: observationSpace, storedType: &observationType,
        dataFile: dataFile, field: "observations")
      try checkColumn(
        episode.actions, space: actionSpace, storedType: &actionType, dataFile: dataFile,
        field: "actions")
      guard let rewardType = episode.rewards.elementType else {
        throw HDF5Source.layoutError(
          file: dataFile, path: episode.rewards.path, "expected numbers for rewards")
      }
      rewardDtypes.insert(rewardType.name)
      totalSteps += episode.steps
    }
    if let expected = metadata.totalSteps, expected != Int64(totalSteps) {
      throw MTFQIError.invalidInput(
        "\(dataFile): /: expected \(expected) steps in all (total_steps in \(metadata.origin)), the episodes hold \(totalSteps)"
      )
    }
    let observationColumn = columnFormat(observationSpace, storedType: observationType)
    let actionColumn = columnFormat(actionSpace, storedType: actionType)

    let format = TaskFormat(
      observation: observationColumn, action: actionColumn, hasBehaviorProbabilities: false)
    let task = try context.taskName(
      derived: HDF5Source.taskName(from: metadata.datasetID ?? datasetFolderName(path), fallback: "minari"),
      file: path)
    var record = SourceRecord(
      path: path, format: "minari", sha256: try SHA256Digest.ofFile(dataFile))
    record.rewardSourceDtype = rewardDtypes.sorted().joined(separator: ",")
    let writer = try context.writer(for: task, format: format, source: record, file: path)
    writer.declaredObservationSpace = try declare(
      observationSpace, flag: context.options.observationSpace,
      current: writer.declaredObservationSpace,
      role: "observation", task: task, path: path, metadata: metadata)
    writer.declaredActionSpace = try declare(
      actionSpace, flag: context.options.actionSpace, current: writer.declaredActionSpace,
      role: "action", task: task, path: path, metadata: metadata)
    writer.rewardSourceDtypes.formUnion(rewardDtypes)

    var reader = EpisodeStreamer(
      dataFile: dataFile, context: context, writer: writer, format: format,
      observationSpace: observationSpace, actionSpace: actionSpace, totalSteps: totalSteps)
    for (id, name) in episodeList {
      try reader.stream(try openEpisode(root, id: id, name: name, dataFile: dataFile))
    }
    try reader.flush()
  }

  // MARK: Finding the files

  static func locate(_ path: String) throws(MTFQIError) -> (data: String, metadata: String?) {
    let manager = FileManager.default
    var isDirectory: ObjCBool = false
    guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw MTFQIError.io(path: path, message: "no such file or folder")
    }
    let folder = URL(fileURLWithPath: path)
    var candidates: [(data: URL, metadata: [URL])] = []
    if isDirectory.boolValue {
      let data = folder.appendingPathComponent("data")
      candidates.append(
        (
          data.appendingPathComponent(dataFileName),
          [
            data.appendingPathComponent(metadataFileName),
            folder.appendingPathComponent(metadataFileName),
          ]
        ))
      candidates.append(
        (
          folder.appendingPathComponent(dataFileName),
          [
            folder.appendingPathComponent(metadataFileName),
            folder.deletingLastPathComponent().appendingPathComponent(metadataFileName),
          ]
        ))
    } else {
      let parent = folder.deletingLastPathComponent()
      candidates.append(
        (
          folder,
          [
            parent.appendingPathComponent(metadataFileName),
            parent.deletingLastPathComponent().appendingPathComponent(metadataFileName),
          ]
        ))
    }
    for candidate in candidates where manager.fileExists(atPath: candidate.data.path) {
      let metadata = candidate.metadata.first { manager.fileExists(atPath: $0.path) }
      return (candidate.data.path, metadata?.path)
    }
    throw MTFQIError.invalidInput(
      "\(path): not a Minari dataset folder (expected data/\(dataFileName), with data/\(metadataFileName) or the metadata in the root attributes of \(dataFileName))"
    )
  }

  /// The folder name, for a dataset without a dataset_id: ".../cartpole/data" gives "cartpole".
  static func datasetFolderName(_ path: String) -> String {
    var url = URL(fileURLWithPath: path)
    if url.lastPathComponent == dataFileName { url.deleteLastPathComponent() }
    if url.lastPathComponent == "data" { url.deleteLastPathComponent() }
    return url.lastPathComponent
  }

  // MARK: Metadata and spaces

  static func readMetadata(metadataFile: String?, root: HDF5Group, dataFile: String)
    throws(MTFQIError) -> Metadata
  {
    if let metadataFile {
      guard let data = FileManager.default.contents(atPath: metadataFile) else {
        throw MTFQIError.io(path: metadataFile, message: "cannot read")
      }
      let text = Space.quotingNonFiniteNumbers(String(decoding: data, as: UTF8.self))
      let parsed: Any
      do {
        parsed = try JSONSerialization.jsonObject(with: Data(text.utf8))
      } catch {
        throw MTFQIError.invalidInput(
          "\(metadataFile): not valid JSON: \(error.localizedDescription)")
      }
      guard let object = parsed as? [String: Any] else {
        throw MTFQIError.invalidInput("\(metadataFile): expected a JSON object of dataset metadata")
      }
      func spaceText(_ key: String) throws(MTFQIError) -> String? {
        switch object[key] {
        case nil: return nil
        case let text as String: return text
        case let nested as [String: Any]:
          guard let data = try? JSONSerialization.data(withJSONObject: nested) else {
            throw MTFQIError.invalidInput(
              "\(metadataFile): \(key) cannot be read as a space description")
          }
          return String(decoding: data, as: UTF8.self)
        default:
          throw MTFQIError.invalidInput("\(metadataFile): \(key): expected the space as JSON text")
        }
      }
      func integer(_ key: String) throws(MTFQIError) -> Int64? {
        guard let value = object[key] else { return nil }
        guard let number = value as? NSNumber, let exact = Int64(exactly: number.doubleValue) else {
          throw MTFQIError.invalidInput(
            "\(metadataFile): \(key): expected an integer, found \(value)")
        }
        return exact
      }
      return Metadata(
        observationSpace: try spaceText("observation_space"),
        actionSpace: try spaceText("action_space"),
        datasetID: object["dataset_id"] as? String, totalEpisodes: try integer("total_episodes"),
        totalSteps: try integer("total_steps"),
        jpegEncoding: (object["jpeg_encoding"] as? Bool) ?? false,
        dataFormat: object["data_format"] as? String, origin: metadataFile)
    }
    // Older layout: the root attributes of main_data.hdf5.
    return try HDF5Source.run { () throws(HDF5Error) -> Metadata in
      func string(_ name: String) throws(HDF5Error) -> String? {
        guard try root.hasAttribute(name), try root.attributeIsString(name) else { return nil }
        return try root.stringAttribute(name)
      }
      func integer(_ name: String) throws(HDF5Error) -> Int64? {
        guard try root.hasAttribute(name), !(try root.attributeIsString(name)) else { return nil }
        return try root.scalarAttribute(name, as: Int64.self)
      }
      return Metadata(
        observationSpace: try string("observation_space"), actionSpace: try string("action_space"),
        datasetID: try string("dataset_id"), totalEpisodes: try integer("total_episodes"),
        totalSteps: try integer("total_steps"), jpegEncoding: false, dataFormat: nil,
        origin: "\(dataFile): root attributes")
    }
  }

  /// Parses a declared space, refusing unsupported ones by name.
  static func space(_ text: String?, key: String, metadata: Metadata) throws(MTFQIError) -> Space {
    guard let text else {
      throw MTFQIError.invalidInput(
        "\(metadata.origin): no \(key) (mtfqi needs the dataset to declare its spaces; Minari 0.4 and later write them)"
      )
    }
    if metadata.jpegEncoding, let image = imageSpace(text) {
      throw MTFQIError.invalidInput(
        "\(metadata.origin): \(key): \(image) image data is stored JPEG-encoded (jpeg_encoding = true); JPEG-encoded images are not supported (mtfqi reads Discrete and Box spaces of float32/float64)"
      )
    }
    return try Space.parse(text, context: "\(metadata.origin): \(key)")
  }

  /// "Box(shape=(32, 32, 3), uint8)" when the text is a space Minari stores as JPEG images
  /// (`minari.dataset.minari_storage.is_image_space`: a uint8 Box of rank 2 or 3, at least 32x32).
  static func imageSpace(_ text: String) -> String? {
    guard
      let object = try? JSONSerialization.jsonObject(
        with: Data(Space.quotingNonFiniteNumbers(text).utf8))
        as? [String: Any],
      object["type"] as? String == "Box", object["dtype"] as? String == "uint8",
      let shape = (object["shape"] as? [NSNumber])?.map(\.intValue),
      shape.count == 2 || shape.count == 3, shape[0] >= 32, shape[1] >= 32
    else { return nil }
    return "Box(shape=(\(shape.map(String.init).joined(separator: ", "))), uint8)"
  }

  /// The space the task declares: the dataset's own, after checking it against a
  /// `--observation-space`/`--action-space` flag and against earlier sources of the task.
  static func declare(
    _ space: Space, flag: Space?, current: Space?, role: String, task: String, path: String,
    metadata: Metadata
  ) throws(MTFQIError) -> Space {
    if let flag, !flag.isCompatible(with: space) {
      throw MTFQIError.invalidInput(
        "\(path): --\(role)-space \(flag) conflicts with the dataset's \(role) space \(space) (declared in \(metadata.origin))"
      )
    }
    if let current, current != flag, !current.isCompatible(with: space) {
      throw MTFQIError.invalidInput(
        "\(path): task '\(task)': the dataset's \(role) space \(space) differs from the task's earlier sources (\(current))"
      )
    }
    return space
  }

  // MARK: Episodes

  /// The episode groups (`episode_<id>`) in increasing id order.
  static func episodeNames(_ root: HDF5Group, dataFile: String) throws(MTFQIError) -> [(
    id: Int64, name: String
  )] {
    let names = try HDF5Source.run { () throws(HDF5Error) in try root.memberNames() }
    var found: [(id: Int64, name: String)] = []
    for name in names where name.hasPrefix("episode_") {
      guard let id = Int64(name.dropFirst("episode_".count)), id >= 0 else {
        throw HDF5Source.layoutError(
          file: dataFile, path: "/" + name,
          "expected a group named episode_<id> with a non-negative integer id")
      }
      found.append((id, name))
    }
    return found.sorted { $0.id < $1.id }
  }

  /// Opens one episode and checks its layout: every dataset present, T+1 observations and T of
  /// everything else, one value per step for rewards and flags. Episodes are opened one at a
  /// time (a dataset with thousands of episodes never holds all their handles).
  static func openEpisode(_ root: HDF5Group, id: Int64, name: String, dataFile: String)
    throws(MTFQIError) -> Episode
  {
    let path = "/" + name
    let kind = try HDF5Source.run { () throws(HDF5Error) in try root.kind(of: name) }
    guard kind == .group else {
      throw HDF5Source.layoutError(
        file: dataFile, path: path,
        "expected an episode group, found a \(kind == .dataset ? "dataset" : "non-group object")")
    }
    let group = try HDF5Source.run { () throws(HDF5Error) in try root.group(name) }
    let required =
      "an episode group holds observations, actions, rewards, terminations and truncations"
    let observationKind = try HDF5Source.run { () throws(HDF5Error) -> HDF5ObjectKind? in
      try group.contains("observations") ? try group.kind(of: "observations") : nil
    }
    if observationKind == .group {
      throw HDF5Source.layoutError(
        file: dataFile, path: path + "/observations",
        "a group of sub-spaces (Dict or Tuple observations), which mtfqi does not read")
    }
    let episode = Episode(
      id: id, path: path,
      observations: try HDF5Source.requireDataset(
        group, "observations", file: dataFile, missing: required),
      actions: try HDF5Source.requireDataset(group, "actions", file: dataFile, missing: required),
      rewards: try HDF5Source.requireDataset(group, "rewards", file: dataFile, missing: required),
      terminations: try HDF5Source.requireDataset(
        group, "terminations", file: dataFile, missing: required),
      truncations: try HDF5Source.requireDataset(
        group, "truncations", file: dataFile, missing: required))
    let steps = episode.observations.rows - 1
    guard steps >= 0 else {
      throw HDF5Source.layoutError(
        file: dataFile, path: episode.observations.path, "expected T+1 >= 1 rows, found 0")
    }
    for dataset in [episode.actions, episode.rewards, episode.terminations, episode.truncations]
    where dataset.rows != steps {
      throw HDF5Source.layoutError(
        file: dataFile, path: dataset.path,
        "expected \(steps) rows (one per step: \(episode.observations.path) has \(steps + 1) rows = T+1), found \(dataset.rows)"
      )
    }
    for dataset in [episode.rewards, episode.terminations, episode.truncations]
    where dataset.rowElements != 1 {
      throw HDF5Source.layoutError(
        file: dataFile, path: dataset.path,
        "expected one value per step, found shape \(HDF5Source.describeShape(dataset))")
    }
    try HDF5Flags.check(episode.terminations, file: dataFile, field: "terminations")
    try HDF5Flags.check(episode.truncations, file: dataFile, field: "truncations")
    return episode
  }

  /// Checks one episode's observations or actions against the declared space; `storedType`
  /// carries the float type of a Box column from episode to episode (it must not change).
  static func checkColumn(
    _ dataset: HDF5Dataset, space: Space, storedType: inout HDF5ElementType?, dataFile: String,
    field: String
  ) throws(MTFQIError) {
    switch space {
    case .discrete:
      guard let type = dataset.elementType, type.isInteger, type.convertsLosslessly(to: .int64),
        dataset.rowElements == 1
      else {
        throw HDF5Source.layoutError(
          file: dataFile, path: dataset.path,
          "expected one integer per row for the Discrete space \(space), found \(dataset.elementType?.name ?? "non-numeric") of shape \(HDF5Source.describeShape(dataset))"
        )
      }
    case .box(let shape, _, _, _):
      guard let type = dataset.elementType, type.isFloatingPoint else {
        throw HDF5Source.layoutError(
          file: dataFile, path: dataset.path,
          "expected float32 or float64 values for the space \(space), found \(dataset.elementType?.name ?? "non-numeric")"
        )
      }
      guard
        dataset.rowShape == shape
          || (dataset.rowElements == shape.reduce(1, *) && shape.count <= 1)
      else {
        throw HDF5Source.layoutError(
          file: dataFile, path: dataset.path,
          "expected rows of shape (\(shape.map(String.init).joined(separator: ", "))) for the space \(space), found shape \(HDF5Source.describeShape(dataset))"
        )
      }
      if let storedType, storedType != type {
        throw HDF5Source.layoutError(
          file: dataFile, path: dataset.path,
          "stored as \(type.name) while earlier episodes store \(field) as \(storedType.name)")
      }
      storedType = type
    }
  }

  /// How a column is stored: int64 for Discrete; the episodes' float type for Box.
  static func columnFormat(_ space: Space, storedType: HDF5ElementType?) -> ColumnFormat {
    switch space {
    case .discrete: ColumnFormat(type: .int64, rowShape: [])
    case .box(let shape, let dtype, _, _): ColumnFormat(type: storedType ?? dtype, rowShape: shape)
    }
  }

  /// Streams episodes into a task writer in batches of at most `context.batchRows` rows.
  struct EpisodeStreamer {
    let dataFile: String
    let context: IngestContext
    let writer: TaskWriter
    let format: TaskFormat
    let observationSpace: Space
    let actionSpace: Space
    let totalSteps: Int
    var batch: TransitionBatch
    var done = 0

    init(
      dataFile: String, context: IngestContext, writer: TaskWriter, format: TaskFormat,
      observationSpace: Space,
      actionSpace: Space, totalSteps: Int
    ) {
      self.dataFile = dataFile
      self.context = context
      self.writer = writer
      self.format = format
      self.observationSpace = observationSpace
      self.actionSpace = actionSpace
      self.totalSteps = totalSteps
      batch = TransitionBatch(format: format, capacity: min(context.batchRows, max(totalSteps, 1)))
    }

    mutating func stream(_ episode: Episode) throws(MTFQIError) {
      let steps = episode.steps
      let observationWidth = format.observation.width
      let actionWidth = format.action.width
      let observationRange = observationSpace.discreteRange()
      let actionRange = actionSpace.discreteRange()
      var start = 0
      while start < steps {
        let end = min(steps, start + max(1, context.batchRows - batch.count))
        let observations = try HDF5Block.read(
          episode.observations, start..<(end + 1), as: format.observation.type)
        let actions = try HDF5Block.read(episode.actions, start..<end, as: format.action.type)
        let rewards = try HDF5Rewards.read(episode.rewards, start..<end)
        let terminations = try HDF5Flags.read(
          episode.terminations, start..<end, file: dataFile, field: "terminations")
        let truncations = try HDF5Flags.read(
          episode.truncations, start..<end, file: dataFile, field: "truncations")
        // Each observation row is checked once; a bad one spoils the transitions it starts
        // and ends (t-1 and t).
        var badObservations: [Int: (expected: String, found: String)] = [:]
        for offset in 0...(end - start) {
          if let found = observations.nonFinite(row: offset, width: observationWidth) {
            badObservations[offset] = ("a finite number", found)
          } else if let range = observationRange, !range.contains(observations.integer(offset)) {
            badObservations[offset] = (range.text, "\(observations.integer(offset))")
          }
        }
        var rejected = 0
        rows: for i in 0..<(end - start) {
          let t = start + i
          // Checks in field order; the first problem rejects the row (or ends the run).
          if !badObservations.isEmpty {
            for offset in i...(i + 1) {
              if let bad = badObservations[offset] {
                try problem(
                  episode.observations.path, start + offset, "observations", bad.expected, bad.found
                )
                rejected += 1
                continue rows
              }
            }
          }
          if let found = actions.nonFinite(row: i, width: actionWidth) {
            try problem(episode.actions.path, t, "actions", "a finite number", found)
            rejected += 1
            continue rows
          }
          if let range = actionRange, !range.contains(actions.integer(i)) {
            try problem(episode.actions.path, t, "actions", range.text, "\(actions.integer(i))")
            rejected += 1
            continue rows
          }
          if !rewards.inexact.isEmpty, let found = rewards.inexact[i] {
            try problem(
              episode.rewards.path, t, "rewards", "an integer within +-2^53 (exact as float64)",
              found)
            rejected += 1
            continue rows
          }
          if !rewards.values[i].isFinite {
            try problem(
              episode.rewards.path, t, "rewards", "a finite number", "\(rewards.values[i])")
            rejected += 1
            continue rows
          }
          observations.appendRow(i, width: observationWidth, to: &batch.observations)
          observations.appendRow(i + 1, width: observationWidth, to: &batch.nextObservations)
          actions.appendRow(i, width: actionWidth, to: &batch.actions)
          batch.rewards.append(rewards.values[i])
          batch.terminations.append(terminations[i])
          batch.truncations.append(truncations[i])
          batch.episodes.append(episode.id)
          batch.steps.append(Int64(t))
        }
        let read = end - start
        let rejectedRows = rejected
        writer.updateSource {
          $0.rowsRead += read
          $0.rowsRejected += rejectedRows
        }
        done += read
        if batch.count >= context.batchRows { try flush() }
        context.reportProgress(file: dataFile, done: Int64(done), total: Int64(totalSteps))
        start = end
      }
    }

    private func problem(
      _ path: String, _ row: Int, _ field: String, _ expected: String, _ found: String
    )
      throws(MTFQIError)
    {
      try HDF5Source.badRow(
        file: dataFile, path: path, row: row, field: field, expected: expected, found: found,
        context: context)
    }

    mutating func flush() throws(MTFQIError) {
      try writer.flush(&batch)
    }
  }
}
