import Foundation

/// The coverage stage: per task and pooled over tasks, how well the logged data covers what
/// fitted Q-iteration needs (schemas/coverage.md gives every formula).
///
/// One pass over the store's columns in row blocks (plus, for continuous observations only, a
/// second read for the Mahalanobis bootstrap test, which needs Sigma_mu first), then small
/// dense algebra on D x D blocks (or S x A vectors for one-hot features).
public enum CoverageAnalysis {
  /// Runs the analysis. Gates are evaluated into `report.gates`; acting on them (exit 3) is
  /// the caller's business.
  ///
  /// The phases are `CoverageRun`'s: resolve the inputs, scan the tasks and pool them (pass 1),
  /// analyse every scope, the bootstrap pass (pass 2, continuous observations only), assemble
  /// the report.
  public static func run(_ options: CoverageOptions) throws(CoverageError) -> CoverageReport {
    let started = Date()
    try validate(options)
    var run = try CoverageRun(options: options)

    // Pass 1.
    let progress = options.showProgress ? CoverageProgress() : nil
    defer { progress?.finish() }
    let scan = run.makeScan(progress: progress)
    let firstPassStarted = Date()
    let tasks = try run.scanTasks(scan)
    let pooled = try run.pool(tasks)
    let firstPassSeconds = Date().timeIntervalSince(firstPassStarted)

    // Per scope numbers.
    var taskWork: [CoverageRun.ScopeWork] = []
    for (index, task) in tasks.enumerated() {
      taskWork.append(
        try run.analyseScope(
          task.accumulator, name: run.taskNames[index], scopePolicies: [(1, run.policies[index])],
          importance: task.importance))
    }
    var pooledWork = try run.analyseScope(
      pooled.accumulator, name: "pooled", scopePolicies: run.pooledPolicies(tasks),
      importance: pooled.importance)

    // Pass 2: the Mahalanobis bootstrap test for continuous observations.
    var passes = 1
    let secondPassStarted = Date()
    if run.discreteStates == nil {
      passes = 2
      try run.bootstrapPass(scan, tasks: tasks, taskWork: &taskWork, pooledWork: &pooledWork)
    }
    let secondPassSeconds = passes == 2 ? Date().timeIntervalSince(secondPassStarted) : 0

    var report = try run.assembleReport(
      tasks: tasks, taskWork: taskWork, pooledWork: pooledWork,
      timing: CoverageReport.Timing(
        seconds: 0, rows: tasks.reduce(0) { $0 + $1.accumulator.rows }, passes: passes,
        firstPassSeconds: firstPassSeconds, secondPassSeconds: secondPassSeconds))
    report.timing.seconds = Date().timeIntervalSince(started)
    return report
  }

  /// A rate summed from pi-weights (1/A added A times) can exceed 1 by rounding: clamp to [0, 1].
  static func share(_ value: Double) -> Double { min(1, max(0, value)) }

  // MARK: Validation and resolution

  static func validate(_ options: CoverageOptions) throws(CoverageError) {
    guard options.ridgeRelative > 0, options.ridgeRelative.isFinite else {
      throw .usage("--ridge must be positive and finite, found \(options.ridgeRelative)")
    }
    guard options.bootstrapThresholdFactor > 0, options.bootstrapThresholdFactor.isFinite else {
      throw .usage(
        "--bootstrap-threshold must be positive and finite, found \(options.bootstrapThresholdFactor)"
      )
    }
    guard options.bootstrapSample >= 0 else {
      throw .usage(
        "--bootstrap-sample must be 0 (all rows) or positive, found \(options.bootstrapSample)")
    }
    if options.gamma != nil && options.horizon != nil {
      throw .usage("give --gamma (discounted) or --horizon (finite horizon), not both")
    }
    if let gamma = options.gamma, !(gamma >= 0 && gamma < 1) {
      throw .usage("--gamma must be in [0, 1), found \(gamma)")
    }
    if let horizon = options.horizon, !(1...100_000).contains(horizon) {
      throw .usage("--horizon must be between 1 and 100000, found \(horizon)")
    }
    if options.stepData != nil && options.gamma != nil {
      throw .usage("--step-data is for finite-horizon occupancy (--horizon), not --gamma")
    }
    if options.model != nil && options.features != nil {
      throw .usage(
        "--features and --model exclude each other: the model's feature map defines psi and the learned space B-hat^T psi"
      )
    }
    if options.policy == .greedy && options.model == nil {
      throw .usage("--policy greedy needs --model (the greedy policy of the model's Q)")
    }
  }

  static func validateGates(_ options: CoverageOptions, discrete: Bool, behaviorKnown: Bool)
    throws(CoverageError)
  {
    let gates = options.gates
    if !discrete {
      for (name, value) in [
        ("--max-concentrability", gates.maxConcentrability),
        ("--max-chi-square", gates.maxChiSquare),
        ("--max-unseen-share", gates.maxUnseenShare),
      ] where value != nil {
        throw .usage(
          "\(name) needs Discrete observations (tabular counts); for continuous observations gate on --max-kappa or --min-lambda"
        )
      }
    }
    if options.model == nil {
      for (name, value) in [
        ("--min-lambda-learned", gates.minLambdaLearned),
        ("--max-kappa-learned", gates.maxKappaLearned),
        ("--min-sigma-k", gates.minSigmaK),
      ] where value != nil {
        throw .usage("\(name) needs --model")
      }
    }
    if gates.minESSFraction != nil && !behaviorKnown {
      throw .usage(
        "--min-ess-fraction needs a known behaviour policy: Discrete observations (estimated from counts) or a behavior_probs column in every task"
      )
    }
  }

  static func resolveFeatureMap(
    _ options: CoverageOptions, model: TrainedModel?, observationSpace: Space, actionSpace: Space,
    reader: StoreReader, tasks: [String]
  ) throws(CoverageError) -> (FeatureMap, String) {
    if let model {
      let map = model.featureMap
      // The analysis runs in the model's spaces, checked to hold the store's in `run`.
      try checkDimensions(map)
      return (map, "model")
    }
    let spec =
      options.features ?? FeatureMapSpec(kind: observationSpace.isDiscrete ? .oneHot : .raw)
    let normalized = (spec.kind == .raw || spec.kind == .fourier) && spec.normalize
    var plain = spec
    plain.normalize = false
    var map: FeatureMap
    do {
      map = try FeatureMap.build(
        spec: normalized ? plain : spec, observationSpace: observationSpace,
        actionSpace: actionSpace, trainingObservations: [], seed: options.seed)
    } catch {
      switch error {
      case .invalidSpec(let message): throw .usage("--features: \(message)")
      case .mismatch(let message):
        // One flag away: integer states stored as a one-wide Box.
        let values: [Double]
        do {
          values = try reader.observationValues(tasks: tasks)
        } catch {
          throw .input(error.description)
        }
        let hint = Space.integerBoxHint(observationSpace, values: values).map { "; \($0)" } ?? ""
        throw .input("--features: \(message)\(hint)")
      case .io(let message): throw .input("--features: \(message)")
      }
    }
    if normalized {
      // The same map with the observation statistics, streamed from the store (FeatureMap.build
      // would need every observation in memory at once).
      let normalization = try streamingNormalization(
        reader: reader, tasks: tasks, observationSpace: observationSpace,
        blockRows: max(1, options.blockRows))
      map = FeatureMap(
        spec: spec, observationSpace: map.observationSpace, actionSpace: map.actionSpace,
        dimension: map.dimension, structure: map.structure, fourierWeights: map.fourierWeights,
        fourierOffsets: map.fourierOffsets, normalization: normalization)
    }
    try checkDimensions(map)
    return (map, options.features == nil ? "default" : "flag")
  }

  /// Per-coordinate mean and population standard deviation (divisor N) of every observation of
  /// the tasks, pooled, as `ObservationNormalization.fit` defines them (a zero or non-finite
  /// deviation becomes 1), in one streaming read: each block's mean and squared deviations are
  /// computed exactly and merged with Chan et al.'s pairwise update, in task and row order
  /// (deterministic; equal to the two-pass values up to rounding).
  static func streamingNormalization(
    reader: StoreReader, tasks: [String], observationSpace: Space, blockRows: Int
  ) throws(CoverageError) -> ObservationNormalization {
    let d = observationSpace.width
    var count = 0.0
    var mean = [Double](repeating: 0, count: d)
    var squares = [Double](repeating: 0, count: d)
    for task in tasks {
      do {
        let dataset = try reader.dataset(task: task, column: StoreLayout.observations)
        var start = 0
        while start < dataset.rows {
          let range = start..<min(dataset.rows, start + blockRows)
          let values: [Double] =
            observationSpace.isDiscrete
            ? try dataset.readRows(range, as: Int64.self).map { Double($0) }
            : try dataset.readRows(range, as: Double.self)
          let n = Double(range.count)
          for j in 0..<d {
            var sum = 0.0
            for r in 0..<range.count { sum += values[r * d + j] }
            let blockMean = sum / n
            var blockSquares = 0.0
            for r in 0..<range.count {
              let deviation = values[r * d + j] - blockMean
              blockSquares += deviation * deviation
            }
            let delta = blockMean - mean[j]
            let total = count + n
            mean[j] += delta * n / total
            squares[j] += blockSquares + delta * delta * count * n / total
          }
          count += n
          start = range.upperBound
        }
      } catch let error as MTFQIError {
        throw .input(error.description)
      } catch {
        throw .input("\(reader.path): /tasks/\(task)/observations: \(error)")
      }
    }
    guard count > 0 else { return .identity(dimension: d) }
    let scale = squares.map { value -> Double in
      let deviation = (value / count).squareRoot()
      return deviation > 0 && deviation.isFinite ? deviation : 1
    }
    return ObservationNormalization(mean: mean, scale: scale)
  }

  static func checkDimensions(_ map: FeatureMap) throws(CoverageError) {
    let limit = CoverageOptions.maximumDenseDimension
    switch map.structure {
    case .pairs:
      if map.table != nil && map.dimension > limit {
        throw .input(
          "the feature table has dimension \(map.dimension); coverage handles dense dimensions up to \(limit)"
        )
      }
    case .actionBlocks(_, let m):
      if m > limit {
        throw .input(
          "the feature blocks have \(m) features per action; coverage handles blocks up to \(limit)"
        )
      }
    }
  }

  /// The truth file's start distribution (Discrete observations) and objective, read and
  /// validated by `TruthFile` as training and evaluation read it.
  static func readTruth(_ path: String, states: Int?, actions: Int) throws(CoverageError) -> (
    start: [Double]?, objective: CoverageObjective?
  ) {
    do throws(FQIError) {
      return try TruthFile.read(path) { truth, _ in
        var objective: CoverageObjective?
        if truth.mode == "discounted" {
          // The root attribute discount is gamma in discounted mode.
          objective = .discounted(gamma: truth.discount)
        } else if truth.mode == "finite_horizon" {
          guard let horizon = truth.horizon else {
            throw FQIError.input("\(path): /: mode finite_horizon without the attribute horizon")
          }
          objective = .finiteHorizon(horizon: horizon, stepData: .pooled)
        }
        guard let states else { return (nil, objective) }
        guard truth.states == states, truth.actions == actions else {
          throw FQIError.input(
            "\(path): the truth is for \(truth.states) states x \(truth.actions) actions, but the store's spaces are Discrete(\(states)) x Discrete(\(actions))"
          )
        }
        return (try truth.start(), objective)
      }
    } catch {
      throw .input(error.description)
    }
  }

  static func resolveObjective(
    _ options: CoverageOptions, model: TrainedModel?, truth: (CoverageObjective, String)?
  ) throws(CoverageError) -> (CoverageObjective, String) {
    var modelObjective: CoverageObjective?
    if let model {
      switch model.parameters.objective {
      case .discounted(let gamma, _): modelObjective = .discounted(gamma: gamma)
      case .finiteHorizon(let horizon, _):
        modelObjective = .finiteHorizon(
          horizon: horizon, stepData: model.stepData == .perStep ? .perStep : .pooled)
      }
    }
    if let gamma = options.gamma {
      if case .finiteHorizon? = modelObjective, options.policy == .greedy {
        throw .usage(
          "--gamma: the model is finite-horizon; its greedy policy has one table per step (use --horizon or leave both out)"
        )
      }
      return (.discounted(gamma: gamma), "flag")
    }
    if let horizon = options.horizon {
      let stepData: CoverageStepData
      if let flag = options.stepData {
        stepData = flag
      } else if case .finiteHorizon(_, let modelStepData)? = modelObjective {
        stepData = modelStepData
      } else {
        stepData = .pooled
      }
      return (.finiteHorizon(horizon: horizon, stepData: stepData), "flag")
    }
    if let modelObjective {
      if case .finiteHorizon(let horizon, _) = modelObjective, let flag = options.stepData {
        return (.finiteHorizon(horizon: horizon, stepData: flag), "model")
      } else if options.stepData != nil, case .discounted = modelObjective {
        throw .usage("--step-data is for finite-horizon occupancy, but the model is discounted")
      }
      return (modelObjective, "model")
    }
    if let (truthObjective, source) = truth {
      if case .finiteHorizon(let horizon, _) = truthObjective {
        return (.finiteHorizon(horizon: horizon, stepData: options.stepData ?? .pooled), source)
      }
      if options.stepData != nil {
        throw .usage("--step-data is for finite-horizon occupancy (--horizon)")
      }
      return (truthObjective, source)
    }
    if options.stepData != nil {
      throw .usage("--step-data is for finite-horizon occupancy (--horizon)")
    }
    return (.discounted(gamma: CoverageOptions.defaultGamma), "default")
  }

  static func objectiveInfo(_ objective: CoverageObjective, source: String)
    -> CoverageReport.ObjectiveInfo
  {
    switch objective {
    case .discounted(let gamma):
      return .init(mode: "discounted", gamma: gamma, horizon: nil, stepData: nil, source: source)
    case .finiteHorizon(let horizon, let stepData):
      return .init(
        mode: "finite_horizon", gamma: nil, horizon: horizon, stepData: stepData.rawValue,
        source: source)
    }
  }

}
