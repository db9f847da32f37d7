import Foundation

/// A new task's head fitted on a frozen representation, with its baselines, as stored in
/// head.h5 (schemas/head.md). The representation is embedded (`/features`,
/// `/representation`), so the head file alone gives Q(s, a) for any state and action.
///
/// Q_h(s, a) = psi(s, a)^T B_{featureSteps[h]} heads[h] (h = 0 in discounted mode).
public struct TrainedHead: Sendable {
  public static let format = "mtfqi.head"
  public static let formatVersion: Int64 = 1

  /// A per-task baseline: D-vectors (scratch) or k*-vectors (oracle), one per step.
  public struct Baseline: Sendable {
    public var vectors: [[Double]]
    public var log: [IterationRecord]
    public var ridge: Double
  }

  /// Held-out Bellman error of each method on a random split of the task's rows.
  public struct Holdout: Sendable, Codable, Equatable {
    public var fraction: Double
    /// The held-out row indices (store row order), ascending.
    public var rows: [Int]
    /// RMS over the held-out rows (and steps) of r + gamma (1 - terminated) max_a' Q_{h+1}(s', a') - Q_h(s, a).
    public var frozen: Double
    public var scratch: Double?
    public var oracle: Double?
  }

  public var representation: ExportedRepresentation
  public var task: String
  /// The fit's settings (objective, head ridge, divergence factor); `ridge` is the scratch ridge.
  public var parameters: FQIParameters
  public var stepData: TrainConfig.StepData
  /// Which B each step used (one entry in discounted mode).
  public var featureSteps: [Int]
  public var heads: [[Double]]
  public var log: [IterationRecord]
  public var scratch: Baseline?
  /// Why the scratch baseline is missing although it was asked for (it diverged).
  public var scratchFailure: String?
  public var oracle: Baseline?
  public var truthPath: String?
  public var truthSHA256: String?
  public var holdout: Holdout?
  public var storePath: String
  public var storeSHA256: String
  public var representationPath: String
  public var representationSHA256: String
  /// Rows fitted (after the hold-out split) and all rows of the task.
  public var fittedTransitions: Int
  public var transitions: Int
  /// sha256 of the task's materialised features under the default B (as `mtfqi-export`
  /// writes them): equal digests mean equal features.
  public var featureSHA256: String
  public var seed: UInt64
  /// Timing (not deterministic).
  public var seconds: Double
  /// The frozen-vs-scratch call (discounted fits).
  public var comparison: FrozenScratchComparison? = nil

  public var steps: Int { heads.count }
  public var isFiniteHorizon: Bool {
    if case .finiteHorizon = parameters.objective { return true }
    return false
  }

  // MARK: Writing

  public func write(to path: String) throws(FQIError) {
    try ReuseFiles.writeAtomically(path) { file throws(HDF5Error) in try writeContents(file) }
  }

  func writeContents(_ file: HDF5File) throws(HDF5Error) {
    let root = try file.root()
    try root.setAttribute("format", Self.format)
    try root.setAttribute("format_version", Self.formatVersion)
    try root.setAttribute("generator", "mtfqi-fit")
    try root.setAttribute("version", MTFQIVersion.string)
    try root.setAttribute("task", task)
    try ExportedRepresentation.writeSettings(root, parameters: parameters, stepData: stepData)
    try root.setAttribute("rank", Int64(representation.rank))
    try root.setAttribute("feature_dim", Int64(representation.featureMap.dimension))
    try root.setAttribute("representation", representation.isPerStep ? "per_step" : "shared")
    try root.setAttribute("default_step", Int64(representation.defaultStep))
    try root.setAttribute("store_path", storePath)
    try root.setAttribute("store_sha256", storeSHA256)
    try root.setAttribute("representation_path", representationPath)
    try root.setAttribute("representation_sha256", representationSHA256)
    try root.setAttribute("model_path", representation.modelPath)
    try root.setAttribute("model_sha256", representation.modelSHA256)
    try root.setAttribute("n_transitions", Int64(transitions))
    try root.setAttribute("n_fitted", Int64(fittedTransitions))
    try root.setAttribute("feature_sha256", featureSHA256)
    try root.setAttribute("seed", seed)
    try root.setAttribute("seconds", seconds)
    if let comparison {
      try root.setAttribute("recommended", comparison.recommended)
      try root.setAttribute("frozen_estimated_value", comparison.frozenValue)
      try root.setAttribute("scratch_estimated_value", comparison.scratchValue)
      try root.setAttribute("span_captured", comparison.spanCaptured)
      try root.setAttribute("head_ridge_chosen", comparison.headRidge)
      try root.setAttribute("scratch_ridge_chosen", comparison.scratchRidge)
      if let failure = comparison.frozenFailure { try root.setAttribute("frozen_failure", failure) }
      try root.setAttribute("recommendation_reason", comparison.reason)
      try root.setAttribute("recommendation_basis", comparison.basis)
      try root.setAttribute("evidence", comparison.evidence)
      try root.setAttribute("episodes", Int64(comparison.episodes))
      try root.setAttribute("informative_episodes", Int64(comparison.informativeEpisodes))
      try root.setAttribute("value_difference", comparison.valueDifference)
      try root.setAttribute("difference_standard_error", comparison.differenceStandardError)
      try root.setAttribute("held_out_value_difference", comparison.heldOutValueDifference)
      try root.setAttribute(
        "held_out_difference_standard_error", comparison.heldOutDifferenceStandardError)
      try root.setAttribute("placebo_excess", comparison.placeboExcess)
      try root.setAttribute(
        "placebo_excess_standard_error", comparison.placeboExcessStandardError)
      try root.setAttribute("reward_captured", comparison.rewardCaptured)
      try root.setAttribute("reward_chance", comparison.rewardChance)
      try root.setAttribute("reward_span_p_value", comparison.rewardSpanPValue)
      try root.setAttribute("reward_span_test", comparison.rewardSpanTest)
      try root.setAttribute("training_rewards_explained", comparison.trainingRewardsExplained)
      try root.setAttribute("reward_residual_max", comparison.rewardResidualMax)
      try root.setAttribute("reward_residual_threshold", comparison.rewardResidualThreshold)
      try root.setAttribute("value_range_excess", comparison.valueRangeExcess)
      // The ridge candidates of both methods, one row each.
      let group = try root.createGroup("comparison")
      let rows = comparison.candidates.count
      try group.setAttribute("estimator", "lstd-q")
      try group.setAttribute("held_out_rows", Int64(comparison.heldOutRows))
      try group.setAttribute("folds", Int64(comparison.folds))
      try group.setAttribute(
        "methods", "[" + comparison.candidates.map { "\"\($0.method)\"" }.joined(separator: ", ") + "]")
      try group.writeDataset("ridge", comparison.candidates.map(\.ridge), shape: [rows])
      try group.writeDataset(
        "relative_ridge", comparison.candidates.map(\.relativeRidge), shape: [rows])
      try group.writeDataset("score", comparison.candidates.map(\.score), shape: [rows])
      try group.writeDataset(
        "chosen", comparison.candidates.map { Int64($0.chosen ? 1 : 0) }, shape: [rows])
    }
    try representation.featureMap.write(to: try root.createGroup("features"))
    try ExportedRepresentation.writeBases(
      try root.createGroup("representation"), representation.bases)

    let head = try root.createGroup("head")
    try writeVectors(head, "w", heads)
    try head.writeDataset(
      "feature_step", featureSteps.map { Int64($0) }, shape: [featureSteps.count])
    try Self.writeLog(try head.createGroup("log"), log)
    if let scratchFailure { try root.setAttribute("scratch_failure", scratchFailure) }
    if let scratch {
      let group = try root.createGroup("scratch")
      try group.setAttribute("ridge", scratch.ridge)
      try writeVectors(group, "theta", scratch.vectors)
      try Self.writeLog(try group.createGroup("log"), scratch.log)
    }
    if let oracle {
      let group = try root.createGroup("oracle")
      try group.setAttribute("ridge", oracle.ridge)
      try group.setAttribute("truth_path", truthPath ?? "")
      try group.setAttribute("truth_sha256", truthSHA256 ?? "")
      try writeVectors(group, "w", oracle.vectors)
      try Self.writeLog(try group.createGroup("log"), oracle.log)
    }
    if let holdout {
      let group = try root.createGroup("holdout")
      try group.setAttribute("fraction", holdout.fraction)
      try group.writeDataset("rows", holdout.rows.map { Int64($0) }, shape: [holdout.rows.count])
      try group.setAttribute("bellman_error_frozen", holdout.frozen)
      if let value = holdout.scratch { try group.setAttribute("bellman_error_scratch", value) }
      if let value = holdout.oracle { try group.setAttribute("bellman_error_oracle", value) }
    }
  }

  /// (k,) in discounted mode, (H, k) in finite-horizon mode.
  func writeVectors(_ group: HDF5Group, _ name: String, _ vectors: [[Double]]) throws(HDF5Error) {
    let width = vectors.first?.count ?? 0
    if isFiniteHorizon {
      try group.writeDataset(name, vectors.flatMap { $0 }, shape: [vectors.count, width])
    } else {
      try group.writeDataset(name, vectors[0], shape: [width])
    }
  }

  static func readVectors(_ group: HDF5Group, _ name: String) throws -> [[Double]] {
    let dataset = try group.dataset(name)
    let values = try dataset.readFinite()
    let shape = dataset.shape
    if shape.count == 1 { return [values] }
    guard shape.count == 2 else {
      throw FQIError.input(
        "\(group.file.path): \(dataset.path) has shape \(shape), expected (k,) or (H, k)")
    }
    return (0..<shape[0]).map { Array(values[($0 * shape[1])..<(($0 + 1) * shape[1])]) }
  }

  /// The log of a single-task fit: `bellman_residual`, `q_change`, `max_abs_next_q` are (I,).
  static func writeLog(_ group: HDF5Group, _ log: [IterationRecord]) throws(HDF5Error) {
    let rows = log.count
    try group.writeDataset("iteration", log.map { Int64($0.iteration) }, shape: [rows])
    try group.writeDataset("step", log.map { Int64($0.step) }, shape: [rows])
    try group.writeDataset("objective", log.map(\.objective), shape: [rows])
    try group.writeDataset(
      "bellman_residual", log.map { $0.bellmanResiduals.first ?? .nan }, shape: [rows])
    try group.writeDataset("q_change", log.map { $0.qChanges.first ?? .nan }, shape: [rows])
    try group.writeDataset(
      "max_abs_next_q", log.map { $0.maxAbsNextQ.first ?? .nan }, shape: [rows])
    try group.writeDataset("seconds", log.map(\.seconds), shape: [rows])
    try group.writeDataset("ridge", log.map(\.ridge), shape: [rows])
    try group.writeDataset("restarts", log.map { Int64($0.restarts) }, shape: [rows])
    try group.writeDataset(
      "clipped_share", log.map { $0.clippedShares.first ?? 0 }, shape: [rows])
  }

  static func readLog(_ group: HDF5Group) throws -> [IterationRecord] {
    let iterations = try group.dataset("iteration").read(as: Int64.self)
    let steps = try group.dataset("step").read(as: Int64.self)
    let objective = try group.dataset("objective").read(as: Double.self)
    let residuals = try group.dataset("bellman_residual").read(as: Double.self)
    let changes = try group.dataset("q_change").read(as: Double.self)
    let maxNext = try group.dataset("max_abs_next_q").read(as: Double.self)
    let seconds = try group.dataset("seconds").read(as: Double.self)
    guard [steps.count, objective.count, residuals.count, changes.count, maxNext.count, seconds.count].allSatisfy({ $0 == iterations.count }) else {
      throw FQIError.input("\(group.file.path): \(group.path): the log's datasets do not all have \(iterations.count) rows")
    }
    let ridges = try group.contains("ridge") ? try group.dataset("ridge").read(as: Double.self) : []
    let restarts =
      try group.contains("restarts") ? try group.dataset("restarts").read(as: Int64.self) : []
    let clipped =
      try group.contains("clipped_share")
      ? try group.dataset("clipped_share").read(as: Double.self) : []
    return iterations.indices.map { r in
      var record = IterationRecord(
        iteration: Int(iterations[r]), step: Int(steps[r]), sweeps: 0, objective: objective[r],
        bellmanResiduals: [residuals[r]], qChanges: [changes[r]], maxAbsNextQ: [maxNext[r]],
        seconds: seconds[r])
      if r < ridges.count { record.ridge = ridges[r] }
      if r < restarts.count { record.restarts = Int(restarts[r]) }
      if r < clipped.count { record.clippedShares = [clipped[r]] }
      return record
    }
  }

  // MARK: Reading

  public static func read(_ path: String) throws(FQIError) -> TrainedHead {
    do {
      let file = try HDF5File.open(path)
      let root = try file.root()
      try ReuseFiles.checkFormat(
        root, path: path, format: format, version: formatVersion, what: "head")
      let representation = try ExportedRepresentation.read(root: root, file: file, path: path)
      let parameters = representation.parameters
      let head = try file.group("/head")
      let heads = try readVectors(head, "w")
      let featureSteps = try head.dataset("feature_step").read(as: Int64.self).map { Int($0) }
      // Checked on read: a head's width is the rank, and its feature steps index B.
      let rank = representation.bases[0].columns
      let steps = representation.bases.count > 1 ? representation.bases.count : ModelLimits.horizon.upperBound
      guard heads.allSatisfy({ $0.count == rank }) else {
        throw FQIError.input("\(path): /head/w: expected heads of \(rank) values (the representation's rank), found \(heads.map(\.count))")
      }
      if let bad = featureSteps.first(where: { !(0..<steps).contains($0) }) {
        throw FQIError.input("\(path): /head/feature_step: expected steps in [0, \(steps - 1)], found \(bad)")
      }
      func text(_ name: String) throws -> String {
        try root.hasAttribute(name) ? try root.stringAttribute(name) : ""
      }
      var scratch: Baseline?
      if try file.exists("/scratch") {
        let group = try file.group("/scratch")
        scratch = Baseline(
          vectors: try readVectors(group, "theta"), log: try readLog(try group.group("log")),
          ridge: try group.scalarAttribute("ridge", as: Double.self))
      }
      var oracle: Baseline?
      var truthPath: String?
      var truthSHA: String?
      if try file.exists("/oracle") {
        let group = try file.group("/oracle")
        oracle = Baseline(
          vectors: try readVectors(group, "w"), log: try readLog(try group.group("log")),
          ridge: try group.scalarAttribute("ridge", as: Double.self))
        truthPath = try group.stringAttribute("truth_path")
        truthSHA = try group.stringAttribute("truth_sha256")
      }
      var holdout: Holdout?
      if try file.exists("/holdout") {
        let group = try file.group("/holdout")
        func optional(_ name: String) throws -> Double? {
          try group.hasAttribute(name) ? try group.scalarAttribute(name, as: Double.self) : nil
        }
        holdout = Holdout(
          fraction: try group.scalarAttribute("fraction", as: Double.self),
          rows: try group.dataset("rows").read(as: Int64.self).map { Int($0) },
          frozen: try group.scalarAttribute("bellman_error_frozen", as: Double.self),
          scratch: try optional("bellman_error_scratch"),
          oracle: try optional("bellman_error_oracle"))
      }
      return TrainedHead(
        representation: representation, task: try root.stringAttribute("task"),
        parameters: parameters, stepData: representation.stepData, featureSteps: featureSteps,
        heads: heads, log: try readLog(try head.group("log")), scratch: scratch,
        scratchFailure: try root.hasAttribute("scratch_failure")
          ? try text("scratch_failure") : nil,
        oracle: oracle,
        truthPath: truthPath, truthSHA256: truthSHA, holdout: holdout,
        storePath: try text("store_path"), storeSHA256: try text("store_sha256"),
        representationPath: try text("representation_path"),
        representationSHA256: try text("representation_sha256"),
        fittedTransitions: Int(try root.scalarAttribute("n_fitted", as: Int64.self)),
        transitions: Int(try root.scalarAttribute("n_transitions", as: Int64.self)),
        featureSHA256: try text("feature_sha256"),
        seed: try root.scalarAttribute("seed", as: UInt64.self),
        seconds: try root.scalarAttribute("seconds", as: Double.self))
    } catch let error as FQIError {
      throw error
    } catch {
      throw .input(prefixed(path, "\(path): ", error))
    }
  }

  // MARK: Q functions

  /// Q_h of the frozen head at every (s, a) pair, row s * A + a (nil unless Discrete
  /// observations).
  public func frozenQTable(step h: Int) throws(LinearAlgebraError) -> [Double]? {
    guard
      let phi = try representation.allPairFeatures(
        step: featureSteps[min(h, featureSteps.count - 1)])
    else { return nil }
    return try LinearAlgebra.gemv(phi, heads[h])
  }

  /// Q_h of the scratch baseline at every pair.
  public func scratchQTable(step h: Int) throws(LinearAlgebraError) -> [Double]? {
    guard let scratch else { return nil }
    return try representation.featureMap.qTable(scratch.vectors[h])
  }
}
