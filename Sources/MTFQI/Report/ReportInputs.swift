import Foundation

/// Every input of a report, read once through the stages' own readers (StoreReader,
/// CoverageReport, TrainedModel, ExportedRepresentation, TrainedHead, MetricsReport). Fields
/// that newer writers add (store-level spaces, solver convergence columns of the training log,
/// a model-selection table, a head's recommendation and estimated values) are read with
/// `OptionalFields`, which never fails on their absence.
struct ReportInputs {
  struct TaskData {
    var info: TaskInfo
    /// Rows per episode, in episode-id order.
    var episodeLengths: [Int]
    var rewards: [Double]
  }

  struct StoreData {
    var path: String
    var tasks: [TaskData]
    /// Root attributes of the store other than format and format_version (store-level spaces
    /// and the like), as text.
    var rootFacts: [(String, String)]
  }

  struct ModelData {
    var path: String
    var model: TrainedModel
    /// Training-log columns beyond schemas/model.md's (solver convergence figures), per method
    /// log: name -> rows x columns (columns = tasks, or 1).
    var extraLog: [(method: String, name: String, values: [[Double]])]
    /// A model-selection candidate table, when the model records one.
    var selection: OptionalFields.Table?
  }

  struct RepresentationData {
    var path: String
    var representation: ExportedRepresentation
    var materializedTasks: [String]
    var materializedStore: String?
  }

  struct HeadData {
    var path: String
    var head: TrainedHead
    /// Root attribute `recommended` ("frozen" or "scratch"), when written.
    var recommended: String?
    /// Root attribute `evidence` ("significant", "inconclusive" or "forced"), when written.
    var evidence: String?
    /// Root attributes beyond schemas/head.md's (estimated values, span diagnostics), as text.
    var extraFacts: [(String, String)]
  }

  var stores: [StoreData] = []
  var coverage: (path: String, report: CoverageReport)?
  var model: ModelData?
  var representation: RepresentationData?
  var heads: [HeadData] = []
  var metrics: (path: String, report: MetricsReport)?
  var scaling: ScalingTables?

  static func read(_ request: ReportRequest) throws(MTFQIError) -> ReportInputs {
    var inputs = ReportInputs()
    for path in request.stores { inputs.stores.append(try readStore(path)) }
    if let path = request.coverage {
      let text = try readText(path)
      do {
        inputs.coverage = (path, try CoverageReport.decode(text))
      } catch {
        throw .invalidInput("\(path): not a coverage report (schemas/coverage.md): \(error)")
      }
    }
    if let path = request.model { inputs.model = try readModel(path) }
    if let path = request.representation {
      do {
        let representation = try ExportedRepresentation.read(path)
        let materialized = OptionalFields.stringAttribute(path, object: "/materialized", "task_names")
        inputs.representation = RepresentationData(
          path: path, representation: representation,
          materializedTasks: materialized.flatMap(OptionalFields.jsonStrings) ?? [],
          materializedStore: OptionalFields.stringAttribute(path, object: "/materialized", "store_path"))
      } catch {
        throw .invalidInput(error.description)
      }
    }
    for path in try expandHeads(request.heads) {
      do {
        let head = try TrainedHead.read(path)
        inputs.heads.append(
          HeadData(
            path: path, head: head, recommended: OptionalFields.stringAttribute(path, object: "/", "recommended"),
            evidence: OptionalFields.stringAttribute(path, object: "/", "evidence"),
            extraFacts: OptionalFields.unknownAttributes(path, object: "/", known: knownHeadAttributes)))
      } catch {
        throw .invalidInput(error.description)
      }
    }
    if let path = request.metrics {
      let text = try readText(path)
      let decoder = JSONDecoder()
      decoder.nonConformingFloatDecodingStrategy = .convertFromString(
        positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
      do {
        let report = try decoder.decode(MetricsReport.self, from: Data(text.utf8))
        guard report.format == MetricsReport.format else {
          throw MTFQIError.invalidInput("format is '\(report.format)', expected '\(MetricsReport.format)'")
        }
        inputs.metrics = (path, report)
      } catch {
        throw .invalidInput("\(path): not a metrics file (schemas/metrics.schema.json): \(error)")
      }
    }
    if let path = request.scaling { inputs.scaling = try ScalingTables.read(path) }
    return inputs
  }

  static func readText(_ path: String) throws(MTFQIError) -> String {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw .io(path: path, message: "cannot read the file")
    }
    return String(decoding: data, as: UTF8.self)
  }

  /// Files as given; a folder stands for the `.h5` files directly inside it, sorted by name.
  static func expandHeads(_ paths: [String]) throws(MTFQIError) -> [String] {
    var files: [String] = []
    for path in paths {
      var isDirectory: ObjCBool = false
      guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw .io(path: path, message: "no such file or folder")
      }
      if isDirectory.boolValue {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        files += entries.filter { $0.hasSuffix(".h5") && !$0.hasPrefix(".") }.sorted().map {
          (path.hasSuffix("/") ? path : path + "/") + $0
        }
      } else {
        files.append(path)
      }
    }
    return files
  }

  static func readStore(_ path: String) throws(MTFQIError) -> StoreData {
    let reader = try StoreReader(path: path)
    var tasks: [TaskData] = []
    for name in reader.taskNames {
      let info = try reader.info(name)
      let episodes: [Int64] = try reader.read(task: name, column: "episode")
      let rewards: [Double] = try reader.read(task: name, column: "rewards")
      var perEpisode: [Int64: Int] = [:]
      for id in episodes { perEpisode[id, default: 0] += 1 }
      let lengths = perEpisode.keys.sorted().map { perEpisode[$0] ?? 0 }
      tasks.append(TaskData(info: info, episodeLengths: lengths, rewards: rewards))
    }
    let facts = OptionalFields.unknownAttributes(path, object: "/", known: ["format", "format_version"])
    return StoreData(path: path, tasks: tasks, rootFacts: facts)
  }

  static let knownLogColumns: Set<String> = [
    "iteration", "step", "als_sweeps", "objective", "bellman_residual", "q_change", "max_abs_next_q",
    "seconds", "target_seconds",
  ]

  static let knownHeadAttributes: Set<String> = [
    "format", "format_version", "generator", "version", "task", "mode", "gamma", "iterations", "horizon",
    "step_data", "head_ridge", "ridge", "ridge_convention", "divergence_factor", "rank", "feature_dim",
    "representation", "default_step", "store_path", "store_sha256", "representation_path",
    "representation_sha256", "model_path", "model_sha256", "n_transitions", "n_fitted", "feature_sha256",
    "seed", "scratch_failure", "seconds", "recommended", "evidence",
  ]

  static func readModel(_ path: String) throws(MTFQIError) -> ModelData {
    let model: TrainedModel
    do {
      model = try TrainedModel.read(path)
    } catch {
      throw .invalidInput(error.description)
    }
    var extra: [(method: String, name: String, values: [[Double]])] = []
    for (method, group) in [
      ("multitask", "/training_log"), ("single-task", "/baselines/single_task/log"), ("oracle", "/baselines/oracle/log"),
    ] {
      for (name, values) in OptionalFields.numericColumns(path, group: group, skipping: knownLogColumns) {
        extra.append((method, name, values))
      }
    }
    return ModelData(path: path, model: model, extraLog: extra, selection: OptionalFields.selectionTable(path))
  }
}
