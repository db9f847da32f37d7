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
  public static func run(_ options: CoverageOptions) throws(CoverageError) -> CoverageReport {
    let started = Date()
    try validate(options)
    let reader: StoreReader
    do {
      reader = try StoreReader(path: options.store)
    } catch {
      throw .input(error.description)
    }
    let taskNames = options.tasks ?? reader.taskNames
    if taskNames.isEmpty { throw .input("\(options.store): the store holds no tasks") }
    var infos: [TaskInfo] = []
    for name in taskNames {
      guard reader.taskNames.contains(name) else {
        throw .input(
          "\(options.store): no task '\(name)' (the store holds: \(reader.taskNames.joined(separator: ", ")))"
        )
      }
      do {
        infos.append(try reader.info(name))
      } catch {
        throw .input(error.description)
      }
    }
    // Every task is analysed in the store's spaces (which hold every task's data); with a model,
    // in the model's, which must hold the store's.
    let storeSpaces: StoreSpaces
    do {
      storeSpaces = try reader.spaces()
    } catch {
      throw .input(error.description)
    }
    var model: TrainedModel?
    if let path = options.model {
      do {
        model = try TrainedModel.read(path)
      } catch {
        throw .input(error.description)
      }
    }
    for index in infos.indices {
      infos[index].observationSpace = model?.featureMap.observationSpace ?? storeSpaces.observation
      infos[index].actionSpace = model?.featureMap.actionSpace ?? storeSpaces.action
    }
    if let map = model?.featureMap {
      for (role, modelSpace, space) in [
        ("observation", map.observationSpace, storeSpaces.observation), ("action", map.actionSpace, storeSpaces.action),
      ] {
        if let problem = modelSpace.containmentProblem(
          space, inner: "the store's \(role) space", outer: "the model's", bounds: false)
        {
          throw .input("\(options.model ?? ""): the model does not fit \(options.store): \(problem)")
        }
      }
    }
    let first = infos[0]
    for info in infos where info.transitions == 0 {
      throw .input(
        "\(options.store): task \(info.name) has no transitions; leave it out with --tasks")
    }
    let observationSpace = first.observationSpace
    guard case .discrete(let actionN, let actionStart) = first.actionSpace else {
      throw .input(
        "\(options.store): the action space is \(first.actionSpace), not Discrete: psi(s, a), the target policy and the Bellman target's max need a finite action set"
      )
    }
    let actions = Int(actionN)
    var discreteStates: Int?
    var stateStart: Int64 = 0
    if case .discrete(let n, let start) = observationSpace {
      discreteStates = Int(n)
      stateStart = start
    }
    let everyTaskHasBehavior = infos.allSatisfy(\.hasBehaviorProbabilities)
    try validateGates(
      options, discrete: discreteStates != nil,
      behaviorKnown: discreteStates != nil || everyTaskHasBehavior)

    // The feature map and the objective.
    let (map, featureSource) = try resolveFeatureMap(
      options, model: model, observationSpace: observationSpace, actionSpace: first.actionSpace,
      reader: reader, tasks: taskNames)
    var truthStart: [Double]?
    var truthObjective: (CoverageObjective, String)?
    if let path = options.truth {
      let truth = try readTruth(path, states: discreteStates, actions: actions)
      truthStart = truth.start
      truthObjective = truth.objective.map { ($0, "truth") }
    }
    let (objective, objectiveSource) = try resolveObjective(
      options, model: model, truth: truthObjective)
    if truthStart != nil && discreteStates == nil {
      throw .usage(
        "--truth gives a start distribution over Discrete states, but the observation space is \(observationSpace)"
      )
    }

    // Target policies.
    var policies: [TargetPolicy] = []
    for name in taskNames {
      switch options.policy {
      case .uniform:
        policies.append(.uniform(actions: actions))
      case .greedy:
        guard let model else { throw .usage("--policy greedy needs --model") }
        guard let t = model.taskNames.firstIndex(of: name) else {
          throw .input(
            "\(options.model ?? ""): the model has no head for task \(name) (its tasks: \(model.taskNames.joined(separator: ", "))); --policy greedy needs one per analysed task (choose tasks with --tasks)"
          )
        }
        let policy = try TargetPolicy.greedy(model: model, modelTask: t)
        if let horizon = objective.horizon, policy.steps != 1, policy.steps != horizon {
          throw .usage(
            "--horizon \(horizon) differs from the model's \(policy.steps) steps: the greedy policy has one action table per step"
          )
        }
        policies.append(policy)
      }
    }

    // Pass 1.
    let progress = options.showProgress ? CoverageProgress() : nil
    defer { progress?.finish() }
    let scan = CoverageScan(
      reader: reader, map: map, states: discreteStates, stateStart: stateStart, actions: actions,
      actionStart: actionStart, horizon: objective.horizon, blockRows: max(1, options.blockRows),
      progress: progress)
    let firstPassStarted = Date()
    var accumulators: [ScopeAccumulator] = []
    var importances: [ImportanceSums?] = []
    // The tasks are scanned in parallel, each by one thread in row order, and gathered in task
    // order: the results are those of one task after another, and the first failing task's
    // error is the one reported.
    let hasBehavior = infos.map(\.hasBehaviorProbabilities)
    let scanned = Parallel.map(taskNames.count) { [scan, taskNames, policies] index in
      Result { () throws(CoverageError) -> ScopeAccumulator in
        try scan.scan(task: taskNames[index], policy: policies[index], hasBehavior: hasBehavior[index])
      }
    }
    for result in scanned {
      var accumulator = try result.get()
      // Importance weights: the store's probabilities, else counts (Discrete observations).
      if let store = accumulator.storeImportance {
        importances.append(store)
      } else if let counts = accumulator.discrete {
        importances.append(counts.countImportance())
      } else {
        importances.append(nil)
      }
      accumulator.storeImportance = nil
      accumulators.append(accumulator)
    }
    var pooled = accumulators[0]
    pooled.names = []
    pooled.rows = 0
    pooled.bootstrappingRows = 0
    pooled.startRows = 0
    if var discrete = pooled.discrete {
      discrete = DiscreteCounts(
        states: discrete.states, actions: discrete.actions, horizon: objective.horizon)
      pooled.discrete = discrete
    }
    if let blocks = pooled.blocks {
      pooled.blocks = BlockSums(
        actions: blocks.actions, blockSize: blocks.blockSize, uniformTarget: blocks.piShared != nil)
    }
    for accumulator in accumulators {
      do {
        try pooled.merge(accumulator)
      } catch {
        throw .linearAlgebra(context: "pooling the tasks", error: error)
      }
    }
    var pooledImportance: ImportanceSums?
    if importances.allSatisfy({ $0 != nil }) {
      var sums = ImportanceSums(source: importances[0]?.source ?? "counts")
      for part in importances { if let part { sums.merge(part) } }
      pooledImportance = sums
    }

    let firstPassSeconds = Date().timeIntervalSince(firstPassStarted)

    // Per scope numbers.
    let includeCounts = options.includeCounts ?? ((discreteStates ?? 0) * actions <= 10_000)
    let totalRows = accumulators.reduce(0) { $0 + $1.rows }
    var warnings: [String] = []
    struct ScopeWork {
      var report: ScopeReport
      var factor: MahalanobisFactor
      var learnedFactor: MahalanobisFactor?
    }
    func analyseScope(
      _ accumulator: ScopeAccumulator, name: String, scopePolicies: [(Double, TargetPolicy)],
      importance: ImportanceSums?
    ) throws(CoverageError) -> ScopeWork {
      let context = "\(options.store): \(name)"
      var tabular: TabularReport?
      var startSource: String?
      var bootstrap: BootstrapReport
      if let counts = accumulator.discrete {
        let (report, source) = TabularCoverage.report(
          counts, rows: accumulator.rows, startRows: accumulator.startRows, policies: scopePolicies,
          truthStart: truthStart, objective: objective, stateStart: stateStart,
          actionStart: actionStart, includeCounts: includeCounts)
        tabular = report
        startSource = source
        bootstrap = BootstrapReport(
          rule: "unseen_pair",
          rate: share(
            TabularCoverage.unsupportedBootstrapRate(
              counts, bootstrappingRows: accumulator.bootstrappingRows)))
      } else {
        bootstrap = BootstrapReport(rule: "mahalanobis", rate: 0)
      }
      let moments: FeatureMoments
      do {
        switch map.structure {
        case .pairs:
          guard let counts = accumulator.discrete else {
            throw CoverageError.input("\(context): pair features need Discrete observations")
          }
          moments = try TabularCoverage.pairMoments(
            counts, rows: accumulator.rows, bootstrappingRows: accumulator.bootstrappingRows,
            features: map.pairMatrix())
        case .actionBlocks:
          guard let blocks = accumulator.blocks else {
            throw CoverageError.input("\(context): block features were not accumulated")
          }
          moments = blocks.moments(
            rows: accumulator.rows, bootstrappingRows: accumulator.bootstrappingRows)
        }
      } catch let error as CoverageError {
        throw error
      } catch let error as LinearAlgebraError {
        throw .linearAlgebra(context: "\(context): feature moments", error: error)
      } catch {
        throw .input("\(context): \(error)")
      }
      let (base, factor) = try CoverageMath.analyse(
        moments, space: "base", step: nil, ridgeRelative: options.ridgeRelative,
        thresholdFactor: options.bootstrapThresholdFactor, context: context + " (base features)")
      var learned: [FeatureReport]?
      var learnedFactor: MahalanobisFactor?
      if let model {
        var reports: [FeatureReport] = []
        for (h, b) in model.representations.enumerated() {
          let projected: FeatureMoments
          do {
            projected = try moments.projected(b)
          } catch {
            throw .linearAlgebra(context: "\(context): learned-space moments", error: error)
          }
          let step = model.representations.count == 1 ? nil : h
          let (report, learnedW) = try CoverageMath.analyse(
            projected, space: "learned", step: step, ridgeRelative: options.ridgeRelative,
            thresholdFactor: options.bootstrapThresholdFactor,
            context: context + " (learned features)")
          reports.append(report)
          if model.representations.count == 1 { learnedFactor = learnedW }
        }
        learned = reports
      }
      if base.targetOutsideDataSpan > 1e-9 {
        warnings.append(
          "\(name): \(CoverageFormat.percent(base.targetOutsideDataSpan)) of Sigma_pi's trace lies outside the span of the data's features: kappa (\(CoverageFormat.number(base.kappa))) is set by the ridge there and is effectively infinite"
        )
      }
      if let tabular, tabular.unseenReachablePairs > 0 {
        warnings.append(
          "\(name): \(tabular.unseenReachablePairs) reachable (state, action) pair(s) never seen: the data-only bound 1 / min mu is infinite"
        )
      }
      let report = ScopeReport(
        name: name, tasks: accumulator.names, transitions: accumulator.rows,
        bootstrappingTransitions: accumulator.bootstrappingRows,
        episodeStarts: accumulator.startRows,
        startDistribution: startSource, tabular: tabular, baseFeatures: base,
        learnedFeatures: learned,
        unsupportedBootstrap: bootstrap, importanceWeights: importance?.report)
      return ScopeWork(report: report, factor: factor, learnedFactor: learnedFactor)
    }

    var taskWork: [ScopeWork] = []
    for (index, accumulator) in accumulators.enumerated() {
      taskWork.append(
        try analyseScope(
          accumulator, name: taskNames[index], scopePolicies: [(1, policies[index])],
          importance: importances[index]))
    }
    let pooledPolicies: [(Double, TargetPolicy)] =
      options.policy == .uniform
      ? [(1, .uniform(actions: actions))]
      : accumulators.enumerated().map {
        (Double($0.element.rows) / Double(totalRows), policies[$0.offset])
      }
    var pooledWork = try analyseScope(
      pooled, name: "pooled", scopePolicies: pooledPolicies, importance: pooledImportance)

    // Pass 2: the Mahalanobis bootstrap test for continuous observations.
    var passes = 1
    let secondPassStarted = Date()
    if discreteStates == nil {
      passes = 2
      var pooledUnsupported = 0.0
      var pooledTested = 0.0
      var pooledDataAbove = 0.0
      var pooledDataTested = 0.0
      var pooledLearned = 0.0
      let learnedB = model.flatMap { $0.representations.count == 1 ? $0.representations[0] : nil }
      let cap = options.bootstrapSample
      // With one task the pooled scope is that task: test once.
      let single = taskNames.count == 1
      struct BootstrapJob: Sendable {
        var task: String
        var policy: TargetPolicy
        var factor: MahalanobisFactor
        var learned: CoverageScan.LearnedFactors?
        var stride: Int
        var dataStride: Int
      }
      let jobs = taskNames.indices.map { index -> BootstrapJob in
        var learned: CoverageScan.LearnedFactors?
        if let learnedB, let own = taskWork[index].learnedFactor,
          let pooledFactor = pooledWork.learnedFactor
        {
          learned = CoverageScan.LearnedFactors(
            b: learnedB, task: own, pooled: single ? nil : pooledFactor)
        }
        // Regular strides keep at most `cap` tested rows per task (every row when cap is 0).
        let bootstrapping = accumulators[index].bootstrappingRows
        let rows = accumulators[index].rows
        return BootstrapJob(
          task: taskNames[index], policy: policies[index], factor: taskWork[index].factor, learned: learned,
          stride: cap > 0 ? max(1, (bootstrapping + cap - 1) / cap) : 1,
          dataStride: cap > 0 ? max(1, (rows + cap - 1) / cap) : 1)
      }
      // In parallel over tasks, as pass 1, gathered in task order.
      let pooledFactor = single ? nil : pooledWork.factor
      let tested = Parallel.map(jobs.count) { [scan] index in
        Result { () throws(CoverageError) -> CoverageScan.BootstrapCounts in
          let job = jobs[index]
          return try scan.bootstrapPass(
            task: job.task, policy: job.policy, factor: job.factor, pooledFactor: pooledFactor,
            learned: job.learned, stride: job.stride, dataStride: job.dataStride)
        }
      }
      for (index, result) in tested.enumerated() {
        let counts = try result.get()
        let stride = jobs[index].stride
        let dataStride = jobs[index].dataStride
        let learned = jobs[index].learned
        let tested = Double(max(1, counts.tested))
        var report = BootstrapReport(
          rule: "mahalanobis", rate: counts.tested > 0 ? share(counts.unsupported / tested) : 0,
          threshold: taskWork[index].factor.threshold,
          dataRate: Double(counts.dataAbove) / Double(max(1, counts.dataTested)),
          testedRows: counts.tested, dataTestedRows: counts.dataTested)
        if let learned {
          report.learnedRate = counts.tested > 0 ? share(counts.learnedUnsupported / tested) : 0
          report.learnedThreshold = learned.task.threshold
        }
        taskWork[index].report.unsupportedBootstrap = report
        // Each tested row stands for `stride` rows of its task in the pooled rates.
        pooledUnsupported += Double(stride) * counts.pooledUnsupported
        pooledTested += Double(stride * counts.tested)
        pooledDataAbove += Double(dataStride * counts.pooledDataAbove)
        pooledDataTested += Double(dataStride * counts.dataTested)
        pooledLearned += Double(stride) * counts.pooledLearnedUnsupported
      }
      var report = BootstrapReport(
        rule: "mahalanobis", rate: pooledTested > 0 ? share(pooledUnsupported / pooledTested) : 0,
        threshold: pooledWork.factor.threshold,
        dataRate: pooledDataTested > 0 ? pooledDataAbove / pooledDataTested : 0,
        testedRows: taskWork.reduce(0) { $0 + ($1.report.unsupportedBootstrap.testedRows ?? 0) },
        dataTestedRows: taskWork.reduce(0) {
          $0 + ($1.report.unsupportedBootstrap.dataTestedRows ?? 0)
        })
      if learnedB != nil, let factor = pooledWork.learnedFactor {
        report.learnedRate = pooledTested > 0 ? share(pooledLearned / pooledTested) : 0
        report.learnedThreshold = factor.threshold
      }
      pooledWork.report.unsupportedBootstrap = report
    }

    let secondPassSeconds = passes == 2 ? Date().timeIntervalSince(secondPassStarted) : 0

    // Task diversity.
    var diversity: [TaskDiversity]?
    if let model {
      var entries: [TaskDiversity] = []
      for (h, heads) in model.heads.enumerated() {
        let entry = try CoverageMath.diversity(
          heads, step: model.heads.count == 1 ? nil : h, warningRatio: options.diversityWarningRatio
        )
        if let warning = entry.warning {
          warnings.append("task diversity\(entry.step.map { " (step \($0))" } ?? ""): \(warning)")
        }
        entries.append(entry)
      }
      diversity = entries
    }
    if importances.contains(where: { $0 == nil }) {
      warnings.append(
        "no behaviour policy known for some task(s) (continuous observations and no behavior_probs column): importance weights are not reported for them"
      )
    }

    let taskReports = taskWork.map(\.report)
    let pooledReport = pooledWork.report
    var report = CoverageReport(
      store: options.store, model: options.model, truth: options.truth,
      observationSpace: observationSpace.description, actionSpace: first.actionSpace.description,
      policy: options.policy.rawValue,
      objective: objectiveInfo(objective, source: objectiveSource),
      features: CoverageReport.FeatureInfo(
        kind: map.spec.kind.rawValue, dimension: map.dimension, source: featureSource,
        spec: FeatureMap.specJSON(map.spec), learnedDimension: model?.rank),
      settings: CoverageReport.Settings(
        ridgeRelative: options.ridgeRelative,
        bootstrapThresholdFactor: options.bootstrapThresholdFactor,
        diversityWarningRatio: options.diversityWarningRatio,
        startDistribution: truthStart != nil ? "truth" : "data", countsIncluded: includeCounts),
      tasks: taskReports, pooled: pooledReport,
      pooling: CoverageGateCheck.poolingEffects(tasks: taskReports, pooled: pooledReport),
      taskDiversity: diversity,
      gates: GateReport(passed: true, checked: options.gates.descriptions, failures: []),
      warnings: warnings,
      timing: CoverageReport.Timing(
        seconds: 0, rows: totalRows, passes: passes, firstPassSeconds: firstPassSeconds,
        secondPassSeconds: secondPassSeconds))
    report.gates = CoverageGateCheck.evaluate(options.gates, report: report)
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

  /// The truth file's start distribution and objective.
  static func readTruth(_ path: String, states: Int?, actions: Int) throws(CoverageError) -> (
    start: [Double]?, objective: CoverageObjective?
  ) {
    // The truth is validated as training and evaluation validate it (ranges, P row-stochastic).
    do throws(FQIError) {
      try TruthFile.read(path) { _, _ in () }
    } catch {
      throw CoverageError.input(error.description)
    }
    do {
      let file = try HDF5File.open(path)
      let root = try file.root()
      let format = try root.hasAttribute("format") ? try root.stringAttribute("format") : ""
      guard format == "mtfqi.synthetic-truth" else {
        throw CoverageError.input(
          "\(path): not a truth file (root attribute format is '\(format)', expected 'mtfqi.synthetic-truth')"
        )
      }
      let mode = try root.stringAttribute("mode")
      var objective: CoverageObjective?
      if mode == "discounted" {
        objective = .discounted(gamma: try root.realAttribute("gamma", in: 0...1))
      } else if mode == "finite_horizon" {
        objective = .finiteHorizon(
          horizon: try root.integerAttribute("horizon", in: ModelLimits.horizon), stepData: .pooled)
      }
      guard let states else { return (nil, objective) }
      let fileStates = Int(try root.scalarAttribute("n_states", as: Int64.self))
      let fileActions = Int(try root.scalarAttribute("n_actions", as: Int64.self))
      guard fileStates == states, fileActions == actions else {
        throw CoverageError.input(
          "\(path): the truth is for \(fileStates) states x \(fileActions) actions, but the store's spaces are Discrete(\(states)) x Discrete(\(actions))"
        )
      }
      let start = try file.dataset("/behavior/start").read(as: Double.self)
      guard start.count == states, start.allSatisfy({ $0 >= 0 && $0.isFinite }) else {
        throw CoverageError.input(
          "\(path): /behavior/start is not a distribution over \(states) states")
      }
      return (start, objective)
    } catch let error as CoverageError {
      throw error
    } catch {
      throw .input("truth \(path): \(error)")
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
