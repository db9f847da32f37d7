import Foundation

/// Errors of the truth comparison (per method, per task: the RMS over every (s, a) pair, and
/// every step in finite-horizon mode, of Q-hat - Q*).
public struct TruthEvaluation: Sendable, Codable, Equatable {
  public var truthPath: String
  public var truthSHA256: String
  /// The tasks compared (those of the model that the truth file has).
  public var tasks: [String]
  public var multitask: [Double]
  public var singleTask: [Double]?
  public var oracle: [Double]?
  /// RMS of Q* per task (the scale the errors compare with).
  public var qStarRMS: [Double]
  /// sin(theta) between span(B-hat) and span(B*), one per representation (nil unless psi is
  /// the truth's own feature table x).
  public var sinTheta: [Double]?
  /// sin(theta) between the spans, over all (s, a) pairs, of the learned features psi^T B-hat
  /// and of phi*: defined for every Discrete feature map.
  public var sinThetaFunctions: [Double]

  enum CodingKeys: String, CodingKey {
    case tasks, multitask, oracle
    case truthPath = "truth_path"
    case truthSHA256 = "truth_sha256"
    case singleTask = "single_task"
    case qStarRMS = "q_star_rms"
    case sinTheta = "sin_theta"
    case sinThetaFunctions = "sin_theta_functions"
  }
}

/// A trained model: psi, B (one, or one per step), the task heads, the logs, the baselines
/// and the provenance, as stored in model.h5 (schemas/model.md).
///
/// Q_t(s, a) at step h = psi(s, a)^T B_h w_{t,h} (B_h = B when the representation is shared;
/// h = 0 in discounted mode).
public struct TrainedModel: Sendable {
  public static let format = "mtfqi.model"
  public static let formatVersion: Int64 = 1

  public var featureMap: FeatureMap
  public var parameters: FQIParameters
  public var stepData: TrainConfig.StepData
  public var taskNames: [String]
  /// D x k, one or H.
  public var representations: [Matrix]
  /// k x T, one (discounted) or H.
  public var heads: [Matrix]
  public var log: [IterationRecord]
  public var singleTask: PerTaskFit?
  /// The oracle's heads (k x T per step) on phi* = B*^T x, with phi* as an (S * A) x k matrix.
  public var oracle: PerTaskFit?
  public var oracleFeatures: Matrix?
  public var evaluation: TruthEvaluation?
  public var seed: UInt64
  public var storePath: String
  public var storeSHA256: String
  public var configJSON: String
  /// Timing (not deterministic).
  public var seconds: Double
  /// The model-selection table when settings were chosen automatically (empty otherwise).
  public var selection: [SelectionCandidate] = []
  public var selectionSeconds: Double = 0
  /// `ModelSelection.loggedReturn` (NaN: none), stored as `/selection` attribute logged_return.
  public var loggedReturn = Double.nan
  /// The Fourier feature-map selection table when m or the bandwidth was auto (empty
  /// otherwise; `FeatureSelection`).
  public var featureSelection: [FeatureCandidate] = []
  public var featureSelectionSeconds: Double = 0
  /// The training tasks' reward models (`/reward_basis`; nil when the map's design is too large,
  /// or in a model written before they existed).
  public var rewardBasis: RewardBasis?

  public var rank: Int { parameters.rank }
  public var steps: Int { heads.count }

  /// B for step h.
  public func representation(step h: Int) -> Matrix {
    representations.count == 1 ? representations[0] : representations[h]
  }

  /// theta_{t,h} = B_h w_{t,h} (D values).
  public func theta(task t: Int, step h: Int = 0) throws(LinearAlgebraError) -> [Double] {
    try LinearAlgebra.gemv(representation(step: h), heads[h].column(t))
  }

  /// Q_t(s, a) at step h.
  public func q(task t: Int, step h: Int = 0, observation: [Double], action: Int64)
    throws(LinearAlgebraError) -> Double?
  {
    guard let psi = featureMap.features(observation: observation, action: action) else {
      return nil
    }
    let theta = try theta(task: t, step: h)
    var sum = 0.0
    for i in 0..<psi.count { sum += psi[i] * theta[i] }
    return sum
  }

  // MARK: Writing

  /// Writes model.h5 atomically (temporary file beside `path`, renamed on success).
  public func write(to path: String) throws(FQIError) {
    try writeHDF5Atomically(path) { file throws(HDF5Error) in try writeContents(file) }
  }

  func writeContents(_ file: HDF5File) throws(HDF5Error) {
    let root = try file.root()
    try root.setAttribute("format", Self.format)
    try root.setAttribute("format_version", Self.formatVersion)
    try root.setAttribute("generator", "mtfqi-train")
    try root.setAttribute("version", MTFQIVersion.string)
    switch parameters.objective {
    case .discounted(let gamma, let iterations):
      try root.setAttribute("mode", "discounted")
      try root.setAttribute("gamma", gamma)
      try root.setAttribute("iterations", Int64(iterations))
    case .finiteHorizon(let horizon, let gamma):
      try root.setAttribute("mode", "finite_horizon")
      try root.setAttribute("gamma", gamma)
      try root.setAttribute("horizon", Int64(horizon))
      try root.setAttribute("outer_max_rounds", Int64(parameters.outerMaxRounds))
    }
    try root.setAttribute(
      "representation", representations.count == 1 ? "shared" : "per_step")
    try root.setAttribute("step_data", stepData.rawValue)
    try root.setAttribute("rank", Int64(rank))
    try root.setAttribute("feature_dim", Int64(featureMap.dimension))
    try root.setAttribute("n_tasks", Int64(taskNames.count))
    try root.setAttribute("task_names", jsonArray(taskNames))
    try root.setAttribute("ridge", parameters.ridge)
    try root.setAttribute("head_ridge", parameters.headRidge)
    try root.setAttribute("ridge_form", parameters.ridgeForm.rawValue)
    try root.setAttribute("ridge_convention", "mean")
    try root.setAttribute("als_tolerance", parameters.alsTolerance)
    try root.setAttribute("als_max_sweeps", Int64(parameters.alsMaxSweeps))
    try root.setAttribute("outer_tolerance", parameters.outerTolerance)
    try root.setAttribute("divergence_factor", parameters.divergenceFactor)
    try root.setAttribute("clip_values", Int64(parameters.clipValues ? 1 : 0))
    try root.setAttribute("seed", seed)
    try root.setAttribute("store_path", storePath)
    try root.setAttribute("store_sha256", storeSHA256)
    try root.setAttribute("config", configJSON)
    try root.setAttribute("seconds", seconds)

    try featureMap.write(to: try root.createGroup("features"))

    let d = featureMap.dimension
    let k = rank
    let t = taskNames.count
    let representation = try root.createGroup("representation")
    if representations.count == 1 {
      try representation.writeDataset("B", representations[0].rowMajorValues(), shape: [d, k])
    } else {
      try representation.writeDataset(
        "B", representations.flatMap { $0.rowMajorValues() }, shape: [representations.count, d, k])
    }
    let headsGroup = try root.createGroup("heads")
    try writePerTask(headsGroup, "W", heads, inner: k, tasks: t)
    try writeLog(try root.createGroup("training_log"), log)
    try rewardBasis?.write(root)

    if singleTask != nil || oracle != nil {
      let baselines = try root.createGroup("baselines")
      if let singleTask {
        let group = try baselines.createGroup("single_task")
        try group.setAttribute("ridge", singleTask.ridge ?? parameters.ridge)
        try writePerTask(group, "theta", singleTask.thetas, inner: d, tasks: t)
        try writeLog(try group.createGroup("log"), singleTask.log)
      }
      if let oracle, let oracleFeatures {
        let group = try baselines.createGroup("oracle")
        try group.setAttribute("ridge", parameters.headRidge)
        try writePerTask(group, "heads", oracle.thetas, inner: oracleFeatures.columns, tasks: t)
        try group.writeDataset(
          "features", oracleFeatures.rowMajorValues(),
          shape: [featureMap.stateCount, featureMap.actionCount, oracleFeatures.columns])
        try writeLog(try group.createGroup("log"), oracle.log)
      }
    }
    if !selection.isEmpty {
      // One row per candidate (schemas/model.md "/selection").
      let group = try root.createGroup("selection")
      let rows = selection.count
      try group.setAttribute("estimator", "lstd-q")
      try group.setAttribute("held_out_fraction", ModelSelection.heldOutFraction)
      try group.setAttribute("methods", jsonArray(selection.map(\.method)))
      try group.setAttribute("ridge_forms", jsonArray(selection.map(\.ridgeForm)))
      try group.setAttribute("seconds", selectionSeconds)
      try group.setAttribute("logged_return", loggedReturn)
      try group.writeDataset("rank", selection.map { Int64($0.rank) }, shape: [rows])
      try group.writeDataset(
        "iterations", selection.map { Int64($0.iterations) }, shape: [rows])
      try group.writeDataset("ridge", selection.map(\.ridge), shape: [rows])
      try group.writeDataset("relative_ridge", selection.map(\.relativeRidge), shape: [rows])
      try group.writeDataset("head_ridge", selection.map(\.headRidge), shape: [rows])
      try group.writeDataset("score", selection.map(\.score), shape: [rows])
      try group.writeDataset(
        "held_out_bellman_error", selection.map(\.heldOutBellmanError), shape: [rows])
      try group.writeDataset(
        "value_range_excess", selection.map(\.valueRangeExcess), shape: [rows])
      try group.writeDataset(
        "saturated_start_share", selection.map(\.saturatedStarts), shape: [rows])
      try group.writeDataset(
        "fallback", selection.map { Int64($0.fallback ? 1 : 0) }, shape: [rows])
      try group.writeDataset("chosen", selection.map { Int64($0.chosen ? 1 : 0) }, shape: [rows])
    }
    if !featureSelection.isEmpty {
      try writeFeatureSelection(try root.createGroup("feature_selection"))
    }
    if let evaluation {
      let group = try root.createGroup("evaluation")
      try group.setAttribute("truth_path", evaluation.truthPath)
      try group.setAttribute("truth_sha256", evaluation.truthSHA256)
      try group.setAttribute("task_names", jsonArray(evaluation.tasks))
      try group.writeDataset(
        "q_error_multitask", evaluation.multitask, shape: [evaluation.multitask.count])
      if let single = evaluation.singleTask {
        try group.writeDataset("q_error_single_task", single, shape: [single.count])
      }
      if let oracle = evaluation.oracle {
        try group.writeDataset("q_error_oracle", oracle, shape: [oracle.count])
      }
      try group.writeDataset("q_star_rms", evaluation.qStarRMS, shape: [evaluation.qStarRMS.count])
      if let sin = evaluation.sinTheta {
        try group.writeDataset("sin_theta", sin, shape: [sin.count])
      }
      try group.writeDataset(
        "sin_theta_functions", evaluation.sinThetaFunctions,
        shape: [evaluation.sinThetaFunctions.count])
    }
  }

  /// Per-step matrices (inner x T each) as (T, inner) or (T, H, inner), row-major.
  func writePerTask(
    _ group: HDF5Group, _ name: String, _ matrices: [Matrix], inner: Int, tasks: Int
  )
    throws(HDF5Error)
  {
    if matrices.count == 1 {
      // A column-major inner x T matrix is exactly the row-major (T, inner) array.
      try group.writeDataset(name, matrices[0].storage, shape: [tasks, inner])
      return
    }
    let steps = matrices.count
    var values = [Double](repeating: 0, count: tasks * steps * inner)
    for h in 0..<steps {
      for t in 0..<tasks {
        for j in 0..<inner {
          values[(t * steps + h) * inner + j] = matrices[h].storage[j + t * inner]
        }
      }
    }
    try group.writeDataset(name, values, shape: [tasks, steps, inner])
  }

  /// Reads (T, inner) or (T, H, inner) back into per-step inner x T matrices.
  static func readPerTask(_ dataset: HDF5Dataset) throws(HDF5Error) -> [Matrix] {
    let values = try dataset.readFinite()
    let shape = dataset.shape
    guard shape.count == 2 || shape.count == 3 else {
      throw dataset.error("read dataset", reason: "expected (tasks, k) or (tasks, steps, k), found rank \(shape.count)")
    }
    if shape.count == 2 {
      return [Matrix(rows: shape[1], columns: shape[0], columnMajor: values)]
    }
    let (tasks, steps, inner) = (shape[0], shape[1], shape[2])
    var result: [Matrix] = []
    for h in 0..<steps {
      var m = Matrix(rows: inner, columns: tasks)
      for t in 0..<tasks {
        for j in 0..<inner { m.storage[j + t * inner] = values[(t * steps + h) * inner + j] }
      }
      result.append(m)
    }
    return result
  }

  func writeLog(_ group: HDF5Group, _ log: [IterationRecord]) throws(HDF5Error) {
    let rows = log.count
    let t = log.first?.bellmanResiduals.count ?? 0
    try group.writeDataset("iteration", log.map { Int64($0.iteration) }, shape: [rows])
    try group.writeDataset("step", log.map { Int64($0.step) }, shape: [rows])
    try group.writeDataset("als_sweeps", log.map { Int64($0.sweeps) }, shape: [rows])
    try group.writeDataset("objective", log.map(\.objective), shape: [rows])
    try group.writeDataset("bellman_residual", log.flatMap(\.bellmanResiduals), shape: [rows, t])
    try group.writeDataset("q_change", log.flatMap(\.qChanges), shape: [rows, t])
    try group.writeDataset("max_abs_next_q", log.flatMap(\.maxAbsNextQ), shape: [rows, t])
    try group.writeDataset(
      "max_abs_next_q_unclipped",
      log.flatMap {
        $0.maxAbsNextQUnclipped.count == t ? $0.maxAbsNextQUnclipped : $0.maxAbsNextQ
      }, shape: [rows, t])
    try group.writeDataset("seconds", log.map(\.seconds), shape: [rows])
    try group.writeDataset("target_seconds", log.map(\.targetSeconds), shape: [rows])
    try group.writeDataset("ridge", log.map(\.ridge), shape: [rows])
    try group.writeDataset("restarts", log.map { Int64($0.restarts) }, shape: [rows])
    try group.writeDataset(
      "clipped_share",
      log.flatMap { $0.clippedShares.count == t ? $0.clippedShares : Array(repeating: 0, count: t) },
      shape: [rows, t])
    try group.writeDataset("relative_gradient", log.map(\.relativeGradient), shape: [rows])
    try group.writeDataset("objective_change", log.map(\.objectiveChange), shape: [rows])
  }

  static func readLog(_ group: HDF5Group) throws(HDF5Error) -> [IterationRecord] {
    let iterations = try group.dataset("iteration").read(as: Int64.self)
    let steps = try group.dataset("step").read(as: Int64.self)
    let sweeps = try group.dataset("als_sweeps").read(as: Int64.self)
    let objective = try group.dataset("objective").read(as: Double.self)
    let residualSet = try group.dataset("bellman_residual")
    let residuals = try residualSet.read(as: Double.self)
    let changes = try group.dataset("q_change").read(as: Double.self)
    let maxNext = try group.dataset("max_abs_next_q").read(as: Double.self)
    let seconds = try group.dataset("seconds").read(as: Double.self)
    let targetSeconds = try group.dataset("target_seconds").read(as: Double.self)
    let t = residualSet.rowShape.first ?? 0
    let rows = iterations.count
    guard [steps.count, sweeps.count, objective.count, seconds.count, targetSeconds.count].allSatisfy({ $0 == rows }),
      [residuals, changes, maxNext].allSatisfy({ $0.count == rows * t })
    else {
      throw group.error("read the training log", reason: "its datasets do not all have \(rows) rows of \(t) tasks")
    }
    // Columns added later (recoveries, clipping, the optimality certificate): absent in older
    // models.
    func optional(_ name: String) throws(HDF5Error) -> [Double]? {
      try group.contains(name) ? try group.dataset(name).read(as: Double.self) : nil
    }
    let ridges = try optional("ridge")
    let gradients = try optional("relative_gradient")
    let objectiveChanges = try optional("objective_change")
    let clipped = try optional("clipped_share")
    let unclipped = try optional("max_abs_next_q_unclipped")
    let restarts = try group.contains("restarts")
      ? try group.dataset("restarts").read(as: Int64.self) : nil
    return (0..<iterations.count).map { r in
      var record = IterationRecord(
        iteration: Int(iterations[r]), step: Int(steps[r]), sweeps: Int(sweeps[r]),
        objective: objective[r], bellmanResiduals: Array(residuals[(r * t)..<((r + 1) * t)]),
        qChanges: Array(changes[(r * t)..<((r + 1) * t)]),
        maxAbsNextQ: Array(maxNext[(r * t)..<((r + 1) * t)]), seconds: seconds[r],
        targetSeconds: targetSeconds[r])
      if let ridges, r < ridges.count { record.ridge = ridges[r] }
      if let restarts, r < restarts.count { record.restarts = Int(restarts[r]) }
      if let gradients, r < gradients.count { record.relativeGradient = gradients[r] }
      if let objectiveChanges, r < objectiveChanges.count {
        record.objectiveChange = objectiveChanges[r]
      }
      if let clipped, clipped.count >= (r + 1) * t {
        record.clippedShares = Array(clipped[(r * t)..<((r + 1) * t)])
      }
      if let unclipped, unclipped.count >= (r + 1) * t {
        record.maxAbsNextQUnclipped = Array(unclipped[(r * t)..<((r + 1) * t)])
      }
      return record
    }
  }

  // MARK: Reading

  /// Reads a model written by `write(to:)`. Throws `.input` naming the file and object for a
  /// file that is not a model or is inconsistent.
  public static func read(_ path: String) throws(FQIError) -> TrainedModel {
    do {
      let file = try HDF5File.open(path)
      let root = try file.root()
      let format = try root.hasAttribute("format") ? try root.stringAttribute("format") : ""
      guard format == Self.format else {
        throw FQIError.input(
          "\(path): not an mtfqi model (root attribute format is '\(format)', expected '\(Self.format)')"
        )
      }
      let version = try root.scalarAttribute("format_version", as: Int64.self)
      guard version == formatVersion else {
        throw FQIError.input(
          "\(path): model format_version \(version) is not supported (this mtfqi reads \(formatVersion))"
        )
      }
      let featureMap: FeatureMap
      let featureGroup = try file.group("/features")
      do {
        featureMap = try FeatureMap.read(from: featureGroup)
      } catch {
        throw FQIError.input(error.description)
      }
      // Every number read here is range-checked before it is used (ModelLimits).
      let mode = try root.stringAttribute("mode")
      let gamma = try root.realAttribute("gamma", in: 0...1)
      let objective: FQIParameters.Objective
      if mode == "discounted" {
        guard gamma < 1 else {
          throw FQIError.input("\(path): /: attribute 'gamma': expected a discount in [0, 1), found \(gamma)")
        }
        objective = .discounted(
          gamma: gamma, iterations: try root.integerAttribute("iterations", in: ModelLimits.iterations))
      } else {
        objective = .finiteHorizon(
          horizon: try root.integerAttribute("horizon", in: ModelLimits.horizon), gamma: gamma)
      }
      let shared = try root.stringAttribute("representation") == "shared"
      var parameters = FQIParameters(
        objective: objective, rank: try root.integerAttribute("rank", in: 1...featureMap.dimension),
        ridge: try root.realAttribute("ridge", in: 0...ModelLimits.setting),
        headRidge: try root.realAttribute("head_ridge", in: 0...ModelLimits.setting),
        alsTolerance: try root.realAttribute("als_tolerance", in: 0...ModelLimits.setting),
        alsMaxSweeps: try root.integerAttribute("als_max_sweeps", in: ModelLimits.iterations),
        outerTolerance: try root.realAttribute("outer_tolerance", in: 0...ModelLimits.setting),
        sharedRepresentation: shared,
        divergenceFactor: try root.realAttribute("divergence_factor", in: 0...ModelLimits.setting))
      // Absent before clipping existed: those models were fitted without it.
      parameters.clipValues =
        try root.hasAttribute("clip_values")
        ? try root.scalarAttribute("clip_values", as: Int64.self) != 0 : false
      if try root.hasAttribute("outer_max_rounds") {
        parameters.outerMaxRounds = try root.integerAttribute("outer_max_rounds", in: ModelLimits.iterations)
      }
      let namesText = try root.stringAttribute("task_names")
      guard let names = try JSONSerialization.jsonObject(with: Data(namesText.utf8)) as? [String]
      else { throw FQIError.input("\(path): attribute task_names is not a JSON array of names") }
      let d = featureMap.dimension
      let k = parameters.rank
      let bSet = try file.dataset("/representation/B")
      // (D, k), or (H, D, k) per step: a B stored transposed is refused, not reshaped.
      if bSet.shape.count == 3 {
        try bSet.requireShape([max(1, bSet.shape[0]), d, k], "steps x feature_dim x rank")
      } else {
        try bSet.requireShape([d, k], "feature_dim x rank")
      }
      let bValues = try bSet.readFinite()
      var representations: [Matrix] = []
      if bSet.shape.count == 2 {
        representations = [Matrix(rows: d, columns: k, rowMajor: bValues)]
      } else {
        for h in 0..<bSet.shape[0] {
          representations.append(
            Matrix(rows: d, columns: k, rowMajor: Array(bValues[(h * d * k)..<((h + 1) * d * k)])))
        }
      }
      guard bValues.count == representations.count * d * k else {
        throw FQIError.input("\(path): /representation/B does not hold D x k = \(d) x \(k) values")
      }
      let heads = try readPerTask(try file.dataset("/heads/W"))
      guard heads.allSatisfy({ $0.rows == k && $0.columns == names.count }) else {
        throw FQIError.input("\(path): /heads/W does not hold one k = \(k) head per task")
      }
      var singleTask: PerTaskFit?
      if try file.exists("/baselines/single_task") {
        singleTask = PerTaskFit(
          thetas: try readPerTask(try file.dataset("/baselines/single_task/theta")),
          log: try readLog(try file.group("/baselines/single_task/log")))
      }
      var oracle: PerTaskFit?
      var oracleFeatures: Matrix?
      if try file.exists("/baselines/oracle") {
        oracle = PerTaskFit(
          thetas: try readPerTask(try file.dataset("/baselines/oracle/heads")),
          log: try readLog(try file.group("/baselines/oracle/log")))
        let features = try file.dataset("/baselines/oracle/features")
        let shape = features.shape
        guard shape.count == 3 else {
          throw FQIError.input("\(path): /baselines/oracle/features: expected (S, A, k), found rank \(shape.count)")
        }
        oracleFeatures = Matrix(rows: shape[0] * shape[1], columns: shape[2], rowMajor: try features.readFinite())
      }
      let stepText = try root.stringAttribute("step_data")
      var model = TrainedModel(
        featureMap: featureMap, parameters: parameters,
        stepData: TrainConfig.StepData(rawValue: stepText) ?? .pooled, taskNames: names,
        representations: representations, heads: heads,
        log: try readLog(try file.group("/training_log")), singleTask: singleTask, oracle: oracle,
        oracleFeatures: oracleFeatures, evaluation: nil,
        seed: try root.scalarAttribute("seed", as: UInt64.self),
        storePath: try root.stringAttribute("store_path"),
        storeSHA256: try root.stringAttribute("store_sha256"),
        configJSON: try root.stringAttribute("config"),
        seconds: try root.scalarAttribute("seconds", as: Double.self))
      model.rewardBasis = try RewardBasis.read(
        file, map: featureMap, tasks: names.count, context: path)
      return model
    } catch let error as FQIError {
      throw error
    } catch {
      throw FQIError.input(prefixed(path, "model \(path): ", error))
    }
  }
}

/// The ranges of the numbers a model (and a representation, a head) may hold: a value outside
/// is a corrupt file, refused on read (schemas/model.md).
enum ModelLimits {
  static let iterations = 0...10_000_000
  static let horizon = 1...1_000_000
  /// Ridges, tolerances, the divergence factor.
  static let setting = 1e12
}

func jsonArray(_ names: [String]) -> String {
  "[" + names.map { FeatureMap.jsonString($0) }.joined(separator: ", ") + "]"
}

/// Creates the HDF5 file `path` through `AtomicOutput`: `body` fills a new file at the
/// temporary path, which is closed and renamed over `path` only when `body` succeeds (removed
/// otherwise). Shared by model.h5 and the reuse artifacts (`ReuseFiles.writeAtomically`).
func writeHDF5Atomically(_ path: String, _ body: (HDF5File) throws(HDF5Error) -> Void)
  throws(FQIError)
{
  do {
    try AtomicOutput.writeHDF5(path, body)
  } catch {
    if case .hdf5(let failure) = error { throw .output("\(path): \(failure)") }
    throw .output(error.description)
  }
}
