import Foundation

/// One coverage run: the inputs it resolved and the phases that `CoverageAnalysis.run` calls in
/// order: resolve the inputs (`init`), scan the tasks, pool them, analyse a scope (each task,
/// then the pooled scope), the bootstrap pass (continuous observations), assemble the report.
/// Warnings gather in `warnings` in the order the phases find them.
struct CoverageRun {
  /// A task after pass 1: its sums and its importance weights (nil when no behaviour policy is
  /// known).
  struct ScannedTask {
    var accumulator: ScopeAccumulator
    var importance: ImportanceSums?
  }

  /// A scope's report and the Mahalanobis factors pass 2 tests with.
  struct ScopeWork {
    var report: ScopeReport
    var factor: MahalanobisFactor
    var learnedFactor: MahalanobisFactor?
  }

  let options: CoverageOptions
  let reader: StoreReader
  let taskNames: [String]
  let model: TrainedModel?
  /// The analysis' spaces: the model's when there is one, else the store's.
  let observationSpace: Space
  let actionSpace: Space
  let actions: Int
  let actionStart: Int64
  /// Discrete observations: S and the space's start.
  let discreteStates: Int?
  let stateStart: Int64
  let map: FeatureMap
  let featureSource: String
  let truthStart: [Double]?
  let objective: CoverageObjective
  let objectiveSource: String
  /// One target policy per task.
  let policies: [TargetPolicy]
  let hasBehavior: [Bool]
  let includeCounts: Bool
  var warnings: [String] = []

  // MARK: Resolving the inputs

  /// Opens the store (and the model, the truth), checks that they fit together, and resolves
  /// the feature map, the objective and the target policies.
  init(options: CoverageOptions) throws(CoverageError) {
    self.options = options
    let (reader, infos, model) = try Self.openInputs(options)
    self.reader = reader
    self.model = model
    taskNames = infos.map(\.name)
    let first = infos[0]
    observationSpace = first.observationSpace
    actionSpace = first.actionSpace
    guard case .discrete(let actionN, let actionStart) = first.actionSpace else {
      throw .input(
        "\(options.store): the action space is \(first.actionSpace), not Discrete: psi(s, a), the target policy and the Bellman target's max need a finite action set"
      )
    }
    actions = Int(actionN)
    self.actionStart = actionStart
    var discreteStates: Int?
    var stateStart: Int64 = 0
    if case .discrete(let n, let start) = observationSpace {
      discreteStates = Int(n)
      stateStart = start
    }
    self.discreteStates = discreteStates
    self.stateStart = stateStart
    hasBehavior = infos.map(\.hasBehaviorProbabilities)
    try CoverageAnalysis.validateGates(
      options, discrete: discreteStates != nil,
      behaviorKnown: discreteStates != nil || hasBehavior.allSatisfy { $0 })

    // The feature map and the objective.
    (map, featureSource) = try CoverageAnalysis.resolveFeatureMap(
      options, model: model, observationSpace: observationSpace, actionSpace: actionSpace,
      reader: reader, tasks: taskNames)
    var truthObjective: (CoverageObjective, String)?
    var truthStart: [Double]?
    if let path = options.truth {
      let truth = try CoverageAnalysis.readTruth(path, states: discreteStates, actions: actions)
      truthStart = truth.start
      truthObjective = truth.objective.map { ($0, "truth") }
    }
    self.truthStart = truthStart
    (objective, objectiveSource) = try CoverageAnalysis.resolveObjective(
      options, model: model, truth: truthObjective)
    if truthStart != nil && discreteStates == nil {
      throw .usage(
        "--truth gives a start distribution over Discrete states, but the observation space is \(observationSpace)"
      )
    }
    policies = try Self.targetPolicies(
      options, tasks: taskNames, actions: actions, model: model, objective: objective)
    includeCounts = options.includeCounts ?? ((discreteStates ?? 0) * actions <= 10_000)
  }

  /// The store, the analysed tasks' infos (in the spaces of the analysis) and the model.
  private static func openInputs(_ options: CoverageOptions) throws(CoverageError) -> (
    StoreReader, [TaskInfo], TrainedModel?
  ) {
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
    for info in infos where info.transitions == 0 {
      throw .input(
        "\(options.store): task \(info.name) has no transitions; leave it out with --tasks")
    }
    return (reader, infos, model)
  }

  /// One target policy per task: uniform, or the model's greedy policy for the task's head.
  private static func targetPolicies(
    _ options: CoverageOptions, tasks: [String], actions: Int, model: TrainedModel?,
    objective: CoverageObjective
  ) throws(CoverageError) -> [TargetPolicy] {
    var policies: [TargetPolicy] = []
    for name in tasks {
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
    return policies
  }

  // MARK: Pass 1: scanning and pooling

  /// The scanner of both passes.
  func makeScan(progress: CoverageProgress?) -> CoverageScan {
    CoverageScan(
      reader: reader, map: map, states: discreteStates, stateStart: stateStart, actions: actions,
      actionStart: actionStart, horizon: objective.horizon, blockRows: max(1, options.blockRows),
      progress: progress)
  }

  /// Scans every task. The tasks are scanned in parallel, each by one thread in row order, and
  /// gathered in task order: the results are those of one task after another, and the first
  /// failing task's error is the one reported.
  func scanTasks(_ scan: CoverageScan) throws(CoverageError) -> [ScannedTask] {
    let scanned = Parallel.map(taskNames.count) { [scan, taskNames, policies, hasBehavior] index in
      Result { () throws(CoverageError) -> ScopeAccumulator in
        try scan.scan(task: taskNames[index], policy: policies[index], hasBehavior: hasBehavior[index])
      }
    }
    var tasks: [ScannedTask] = []
    for result in scanned {
      var accumulator = try result.get()
      // Importance weights: the store's probabilities, else counts (Discrete observations).
      let importance = accumulator.storeImportance ?? accumulator.discrete?.countImportance()
      accumulator.storeImportance = nil
      tasks.append(ScannedTask(accumulator: accumulator, importance: importance))
    }
    return tasks
  }

  /// The pooled scope: every task's sums merged in task order; importance weights only when
  /// every task has them.
  func pool(_ tasks: [ScannedTask]) throws(CoverageError) -> ScannedTask {
    var pooled = tasks[0].accumulator
    pooled.names = []
    pooled.rows = 0
    pooled.bootstrappingRows = 0
    pooled.startRows = 0
    if let discrete = pooled.discrete {
      pooled.discrete = DiscreteCounts(
        states: discrete.states, actions: discrete.actions, horizon: objective.horizon)
    }
    if let blocks = pooled.blocks {
      pooled.blocks = BlockSums(
        actions: blocks.actions, blockSize: blocks.blockSize, uniformTarget: blocks.piShared != nil)
    }
    for task in tasks {
      do {
        try pooled.merge(task.accumulator)
      } catch {
        throw .linearAlgebra(context: "pooling the tasks", error: error)
      }
    }
    var pooledImportance: ImportanceSums?
    if tasks.allSatisfy({ $0.importance != nil }) {
      var sums = ImportanceSums(source: tasks[0].importance?.source ?? "counts")
      for task in tasks { if let part = task.importance { sums.merge(part) } }
      pooledImportance = sums
    }
    return ScannedTask(accumulator: pooled, importance: pooledImportance)
  }

  /// The pooled scope's target: uniform, or each task's greedy policy weighted by its rows.
  func pooledPolicies(_ tasks: [ScannedTask]) -> [(Double, TargetPolicy)] {
    let totalRows = tasks.reduce(0) { $0 + $1.accumulator.rows }
    return options.policy == .uniform
      ? [(1, .uniform(actions: actions))]
      : tasks.enumerated().map {
        (Double($0.element.accumulator.rows) / Double(totalRows), policies[$0.offset])
      }
  }

  // MARK: Analysing a scope

  /// One scope's report: tabular numbers (Discrete observations), the base (and learned)
  /// feature moments, and the unseen-pair bootstrap rate (pass 2 fills the Mahalanobis one).
  mutating func analyseScope(
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
        rate: CoverageAnalysis.share(
          TabularCoverage.unsupportedBootstrapRate(
            counts, bootstrappingRows: accumulator.bootstrappingRows)))
    } else {
      bootstrap = BootstrapReport(rule: "mahalanobis", rate: 0)
    }
    let moments = try featureMoments(accumulator, context: context)
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

  /// The scope's feature second moments: from the counts (pair features) or the block sums.
  private func featureMoments(_ accumulator: ScopeAccumulator, context: String)
    throws(CoverageError) -> FeatureMoments
  {
    do {
      switch map.structure {
      case .pairs:
        guard let counts = accumulator.discrete else {
          throw CoverageError.input("\(context): pair features need Discrete observations")
        }
        return try TabularCoverage.pairMoments(
          counts, rows: accumulator.rows, bootstrappingRows: accumulator.bootstrappingRows,
          features: map.pairMatrix())
      case .actionBlocks:
        guard let blocks = accumulator.blocks else {
          throw CoverageError.input("\(context): block features were not accumulated")
        }
        return blocks.moments(
          rows: accumulator.rows, bootstrappingRows: accumulator.bootstrappingRows)
      }
    } catch let error as CoverageError {
      throw error
    } catch let error as LinearAlgebraError {
      throw .linearAlgebra(context: "\(context): feature moments", error: error)
    } catch {
      throw .input("\(context): \(error)")
    }
  }

  // MARK: Pass 2: the bootstrap test

  /// One task's work in pass 2.
  private struct BootstrapJob: Sendable {
    var task: String
    var policy: TargetPolicy
    var factor: MahalanobisFactor
    var learned: CoverageScan.LearnedFactors?
    var stride: Int
    var dataStride: Int
  }

  /// The Mahalanobis bootstrap test (continuous observations): fills every scope's
  /// `unsupportedBootstrap`.
  func bootstrapPass(
    _ scan: CoverageScan, tasks: [ScannedTask], taskWork: inout [ScopeWork],
    pooledWork: inout ScopeWork
  ) throws(CoverageError) {
    let learnedB = model.flatMap { $0.representations.count == 1 ? $0.representations[0] : nil }
    let cap = options.bootstrapSample
    // With one task the pooled scope is that task: test once.
    let single = taskNames.count == 1
    let jobs = taskNames.indices.map { index -> BootstrapJob in
      var learned: CoverageScan.LearnedFactors?
      if let learnedB, let own = taskWork[index].learnedFactor,
        let pooledFactor = pooledWork.learnedFactor
      {
        learned = CoverageScan.LearnedFactors(
          b: learnedB, task: own, pooled: single ? nil : pooledFactor)
      }
      // Regular strides keep at most `cap` tested rows per task (every row when cap is 0).
      let bootstrapping = tasks[index].accumulator.bootstrappingRows
      let rows = tasks[index].accumulator.rows
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
    var pooledUnsupported = 0.0
    var pooledTested = 0.0
    var pooledDataAbove = 0.0
    var pooledDataTested = 0.0
    var pooledLearned = 0.0
    for (index, result) in tested.enumerated() {
      let counts = try result.get()
      let job = jobs[index]
      let tested = Double(max(1, counts.tested))
      var report = BootstrapReport(
        rule: "mahalanobis",
        rate: counts.tested > 0 ? CoverageAnalysis.share(counts.unsupported / tested) : 0,
        threshold: taskWork[index].factor.threshold,
        dataRate: Double(counts.dataAbove) / Double(max(1, counts.dataTested)),
        testedRows: counts.tested, dataTestedRows: counts.dataTested)
      if let learned = job.learned {
        report.learnedRate =
          counts.tested > 0 ? CoverageAnalysis.share(counts.learnedUnsupported / tested) : 0
        report.learnedThreshold = learned.task.threshold
      }
      taskWork[index].report.unsupportedBootstrap = report
      // Each tested row stands for `stride` rows of its task in the pooled rates.
      pooledUnsupported += Double(job.stride) * counts.pooledUnsupported
      pooledTested += Double(job.stride * counts.tested)
      pooledDataAbove += Double(job.dataStride * counts.pooledDataAbove)
      pooledDataTested += Double(job.dataStride * counts.dataTested)
      pooledLearned += Double(job.stride) * counts.pooledLearnedUnsupported
    }
    var report = BootstrapReport(
      rule: "mahalanobis",
      rate: pooledTested > 0 ? CoverageAnalysis.share(pooledUnsupported / pooledTested) : 0,
      threshold: pooledWork.factor.threshold,
      dataRate: pooledDataTested > 0 ? pooledDataAbove / pooledDataTested : 0,
      testedRows: taskWork.reduce(0) { $0 + ($1.report.unsupportedBootstrap.testedRows ?? 0) },
      dataTestedRows: taskWork.reduce(0) {
        $0 + ($1.report.unsupportedBootstrap.dataTestedRows ?? 0)
      })
    if learnedB != nil, let factor = pooledWork.learnedFactor {
      report.learnedRate =
        pooledTested > 0 ? CoverageAnalysis.share(pooledLearned / pooledTested) : 0
      report.learnedThreshold = factor.threshold
    }
    pooledWork.report.unsupportedBootstrap = report
  }

  // MARK: The report

  /// Task diversity (with a model), the last warnings, the report and its gates.
  mutating func assembleReport(
    tasks: [ScannedTask], taskWork: [ScopeWork], pooledWork: ScopeWork,
    timing: CoverageReport.Timing
  ) throws(CoverageError) -> CoverageReport {
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
    if tasks.contains(where: { $0.importance == nil }) {
      warnings.append(
        "no behaviour policy known for some task(s) (continuous observations and no behavior_probs column): importance weights are not reported for them"
      )
    }
    let taskReports = taskWork.map(\.report)
    let pooledReport = pooledWork.report
    var report = CoverageReport(
      store: options.store, model: options.model, truth: options.truth,
      observationSpace: observationSpace.description, actionSpace: actionSpace.description,
      policy: options.policy.rawValue,
      objective: CoverageAnalysis.objectiveInfo(objective, source: objectiveSource),
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
      warnings: warnings, timing: timing)
    report.gates = CoverageGateCheck.evaluate(options.gates, report: report)
    return report
  }
}
