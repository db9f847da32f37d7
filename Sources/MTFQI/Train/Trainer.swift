import Foundation

/// One `mtfqi-train` run: the store to read, the model to write, the resolved config.
public struct TrainRequest: Sendable {
  public var store: String
  public var output: String
  public var config: TrainConfig
  /// `--q-tables DIR`.
  public var qTablesDirectory: String?

  public init(store: String, output: String, config: TrainConfig, qTablesDirectory: String? = nil) {
    self.store = store
    self.output = output
    self.config = config
    self.qTablesDirectory = qTablesDirectory
  }
}

/// What a run did, for the end-of-run summary (`report`) and `--json`.
public struct TrainSummary: Sendable, Codable {
  public var output: String
  public var store: String
  public var storeSHA256: String
  public var tasks: [String]
  public var transitions: [Int]
  public var features: String
  public var featureDimension: Int
  public var rank: Int
  public var mode: String
  public var gamma: Double
  public var iterations: Int
  public var horizon: Int?
  public var ridge: Double
  public var headRidge: Double
  /// Where the multitask ridge sat: "factors" or "theta" (`FQIParameters.RidgeForm`).
  public var ridgeForm = FQIParameters.RidgeForm.factors.rawValue
  /// The multitask log's last row: per-task RMS Bellman residuals.
  public var bellmanResiduals: [Double]
  public var alsSweeps: Int
  public var singleTaskBellmanResiduals: [Double]?
  public var singleTaskRidge: Double?
  /// The model-selection table when rank or ridge was auto.
  public var selection: [SelectionCandidate]?
  public var selectionSeconds: Double?
  /// `ModelSelection.loggedReturn`: the logging policy's mean discounted return from its
  /// episodes' first steps, beside the estimates (nil without a selection or episode ids).
  public var loggedReturn: Double?
  /// The Fourier feature-map selection table when m or the bandwidth was auto.
  public var featureSelection: [FeatureCandidate]?
  public var featureSelectionSeconds: Double?
  /// Restarts from a last good iterate (recoveries) of the multitask fit.
  public var restarts: Int
  /// The largest relative gradient norm over the multitask log (the optimality certificate).
  public var maxRelativeGradient: Double
  public var evaluation: TruthEvaluation?
  public var qTables: [String]
  public var warnings: [String]
  public var seconds: Double

  enum CodingKeys: String, CodingKey {
    case output, store, tasks, transitions, features, rank, mode, gamma, iterations, horizon, ridge
    case evaluation, seconds, warnings
    case storeSHA256 = "store_sha256"
    case featureDimension = "feature_dim"
    case headRidge = "head_ridge"
    case ridgeForm = "ridge_form"
    case bellmanResiduals = "bellman_residuals"
    case alsSweeps = "als_sweeps"
    case singleTaskBellmanResiduals = "single_task_bellman_residuals"
    case singleTaskRidge = "single_task_ridge"
    case selection
    case selectionSeconds = "selection_seconds"
    case loggedReturn = "logged_return"
    case featureSelection = "feature_selection"
    case featureSelectionSeconds = "feature_selection_seconds"
    case restarts
    case maxRelativeGradient = "max_relative_gradient"
    case qTables = "q_tables"
  }

  /// The one-screen summary printed at the end of a run (warnings are not part of it: the
  /// command prints them on stderr).
  public var report: String {
    func mean(_ values: [Double]) -> String { NumberText.fourDigits(NumberText.mean(values)) }
    let total = transitions.reduce(0, +)
    var lines = [
      "mtfqi-train: \(tasks.count) task(s), \(total) transitions from \(store) -> \(output)",
      "  features: \(features), D = \(featureDimension); rank k = \(rank); "
        + (ridgeForm == FQIParameters.RidgeForm.theta.rawValue
          ? "ridge \(NumberText.fourDigits(ridge)) on each task's theta = B w (mean convention)"
          : "ridge \(NumberText.fourDigits(ridge)) on B, \(NumberText.fourDigits(headRidge)) on heads (mean convention)"),
    ]
    if let horizon {
      lines.append(
        "  finite horizon H = \(horizon), gamma = \(NumberText.fourDigits(gamma)); \(iterations) round(s) at most")
    } else {
      lines.append("  discounted, gamma = \(NumberText.fourDigits(gamma)), \(iterations) iterations")
    }
    if let featureSelection, !featureSelection.isEmpty {
      lines += Self.featureSelectionLines(featureSelection, seconds: featureSelectionSeconds ?? 0)
    }
    if let selection, !selection.isEmpty {
      lines.append(
        "  model selection (\(selection.count) candidates, \(String(format: "%.2f", selectionSeconds ?? 0)) s): estimated value of each greedy policy (LSTD-Q, dynamics pooled over the tasks)"
      )
      if let loggedReturn, loggedReturn.isFinite {
        lines.append(
          "    for scale: the logged episodes earned a mean discounted return of \(NumberText.fourDigits(loggedReturn)) from their first steps (the logging policy; truncated episodes count their logged steps only)"
        )
      }
      lines.append(
        "    method       rank  ridge on  ridge       rel. ridge  iter.  est. value   held-out BE  outside range  clipped starts  chosen")
      for c in selection {
        func cell(_ text: String, _ width: Int) -> String {
          text.padding(toLength: max(width, text.count), withPad: " ", startingAt: 0)
        }
        lines.append(
          "    " + cell(c.method, 12) + " " + cell(c.rank == 0 ? "-" : "\(c.rank)", 5) + " "
            + cell(c.ridgeForm, 8) + " "
            + cell(NumberText.fourDigits(c.ridge), 11) + " " + cell(NumberText.fourDigits(c.relativeRidge), 11) + " "
            + cell("\(c.iterations)", 6) + " " + cell(NumberText.fourDigits(c.score), 12) + " " + cell(NumberText.fourDigits(c.heldOutBellmanError), 12) + " "
            + cell(c.valueRangeExcess.isFinite ? NumberText.fourDigits(c.valueRangeExcess) : "", 14) + " "
            + cell(c.saturatedStarts.isFinite ? NumberText.fourDigits(c.saturatedStarts) : "", 15) + " "
            + (c.chosen ? "*" : "") + (c.fallback ? " (fallback: no reliable estimate)" : ""))
      }
    }
    lines.append(
      "  multitask: final Bellman residual (RMS, mean over tasks) \(mean(bellmanResiduals)); \(alsSweeps) ALS sweeps in all; largest relative gradient \(NumberText.fourDigits(maxRelativeGradient))"
        + (restarts > 0 ? "; \(restarts) restart(s) with a stronger ridge" : "")
    )
    if let single = singleTaskBellmanResiduals {
      lines.append(
        "  single-task: final Bellman residual \(mean(single))"
          + (singleTaskRidge.map { " (ridge \(NumberText.fourDigits($0)))" } ?? ""))
    }
    if let evaluation {
      lines.append(
        "  against \(evaluation.truthPath) (\(evaluation.tasks.count) task(s)), RMS over all (s, a) of Q - Q*:"
      )
      let scale = NumberText.mean(evaluation.qStarRMS)
      func row(_ name: String, _ errors: [Double]?) {
        guard let errors else { return }
        let value = NumberText.mean(errors)
        let padded = name.padding(toLength: 12, withPad: " ", startingAt: 0)
        lines.append(
          "    \(padded) \(NumberText.fourDigits(value))  (\(String(format: "%.2f", 100 * value / scale))% of RMS Q*)"
        )
      }
      row("multitask", evaluation.multitask)
      row("single-task", evaluation.singleTask)
      row("oracle", evaluation.oracle)
      var sin = "    sin(theta) to B*:"
      if let values = evaluation.sinTheta {
        sin += " \(values.map(NumberText.fourDigits).joined(separator: ", ")) (parameter space);"
      }
      sin +=
        " \(evaluation.sinThetaFunctions.map(NumberText.fourDigits).joined(separator: ", ")) (span of psi^T B over all (s, a))"
      lines.append(sin)
    }
    if !qTables.isEmpty {
      lines.append(
        "  Q tables: \(qTables.count) file(s) in \((qTables[0] as NSString).deletingLastPathComponent)"
      )
    }
    lines.append("  time: \(String(format: "%.2f", seconds)) s")
    return lines.joined(separator: "\n")
  }
}

extension TrainSummary {
  /// The feature-map selection table as the summary prints it.
  static func featureSelectionLines(_ table: [FeatureCandidate], seconds: Double) -> [String] {
    func cell(_ text: String, _ width: Int) -> String {
      text.padding(toLength: max(width, text.count), withPad: " ", startingAt: 0)
    }
    var lines = [
      "  feature selection (\(table.count) candidates, \(String(format: "%.2f", seconds)) s): estimated value of each map's greedy policy on held-out episodes (LSTD-Q on common evaluation features)",
      "    m     bandwidth  rung  rows      iter.  rank  ridge       est. value   own-features  vs default (s.e.)     outside range  chosen",
    ]
    for c in table {
      lines.append(
        "    " + cell("\(c.fourierFeatures)", 5) + " " + cell(NumberText.fourDigits(c.bandwidth), 10) + " "
          + cell("\(c.rung)", 5) + " " + cell("\(c.rows)", 9) + " " + cell("\(c.iterations)", 6)
          + " " + cell("\(c.rank)", 5) + " " + cell(NumberText.fourDigits(c.ridge), 11) + " "
          + cell(NumberText.fourDigits(c.score), 12) + " " + cell(c.ownFeaturesScore.isNaN ? "" : NumberText.fourDigits(c.ownFeaturesScore), 13) + " "
          + cell(c.improvement.isFinite ? "\(NumberText.fourDigits(c.improvement)) (\(NumberText.fourDigits(c.improvementStandardError)))" : "", 21)
          + " " + cell(c.valueRangeExcess.isFinite ? NumberText.fourDigits(c.valueRangeExcess) : "", 14)
          + " " + (c.chosen ? "*" : ""))
    }
    return lines
  }
}

/// The library entry point of `mtfqi-train`.
public enum Trainer {
  /// Trains, evaluates against the truth file when one is given, writes model.h5 (atomically)
  /// and the Q tables. `progress` receives one line per iteration of each method.
  ///
  /// OpenBLAS runs on one thread for the duration (the previous count is restored); row
  /// passes run on parallel threads, one task each.
  public static func run(
    _ request: TrainRequest, progress: (@Sendable (String) -> Void)? = nil
  ) throws(FQIError) -> TrainSummary {
    // Recoveries are said at once (with the progress) and again among the warnings.
    let notice: (@Sendable (String) -> Void)? = progress.map { report in
      { @Sendable message in report("recovery: \(message)") }
    }
    let started = Date()
    // The store's sha256 (provenance) is computed while the store is read and the model fitted.
    let storeDigestTask = BackgroundDigest(path: request.store)
    var config = request.config
    try config.validate()
    // Parallelism is over tasks; the many small BLAS/LAPACK calls run fastest (and
    // reproducibly) on one OpenBLAS thread.
    let blasThreads = LinearAlgebra.blasThreadCount
    LinearAlgebra.setBLASThreadCount(1)
    defer { LinearAlgebra.setBLASThreadCount(blasThreads) }
    let tasks = try TaskTransitions.load(store: request.store, tasks: config.tasks)
    let names = tasks.map(\.name)
    var warnings: [String] = []
    if !config.rankAuto && tasks.count < config.rank {
      let reason =
        "\(tasks.count) task(s) but rank k = \(config.rank): with fewer tasks than the rank the shared representation is not identifiable (the heads span at most \(tasks.count) dimensions)"
      guard config.allowUnidentifiable else {
        throw .guardrail(
          "\(request.store): \(reason); use --rank \(tasks.count) or less, or train on more tasks (--allow-unidentifiable trains anyway)"
        )
      }
      warnings.append(
        "\(reason); training anyway (--allow-unidentifiable): the spectral start is completed with unit vectors"
      )
    }
    let (featureMap, featureSelection) = try buildFeatureMap(
      &config, tasks: tasks, store: request.store, progress: progress)
    let problems = try RegressionData.problems(tasks, featureMap: featureMap, config: config)
    let selection = try resolveAutomaticSettings(
      &config, tasks: tasks, featureMap: featureMap, problems: problems, progress: progress)
    let parameters = config.parameters
    if let warning = featureSelection.flatMap({ ModelSelection.unreliableWarning($0.table) }) {
      warnings.append(warning)
    }
    if let warning = selection.flatMap({ ModelSelection.unreliableWarning($0.table) }) {
      warnings.append(warning)
    }
    try checkSampleSizes(problems, config: config)
    // The training tasks' reward models (`RewardBasis`, Discrete maps only), for mtfqi-fit's
    // reward span test: problems over all of a task's rows lend their (pair, next state) groups.
    let rewardBasis = try RewardBasis.fit(
      tasks, problems: config.mode == .discounted || config.stepData == .pooled ? problems[0] : [],
      featureMap: featureMap)

    let truth = try config.truth.map { path throws(FQIError) in
      let truth = try SyntheticTruth.read(path)
      try truth.checkCompatible(with: config, featureMap: featureMap)
      return truth
    }

    func reporter(_ method: String) -> (@Sendable (String, IterationRecord) -> Void)? {
      guard let progress else { return nil }
      let total: Int
      switch parameters.objective {
      case .discounted(_, let iterations): total = iterations
      case .finiteHorizon(let horizon, _):
        total = parameters.sharedRepresentation ? parameters.outerMaxRounds : horizon
      }
      return { name, record in progress(progressLine(name, record, total: total)) }
    }

    var singleTask: PerTaskFit?
    if config.singleTask {
      var runner = FittedQIteration(parameters: parameters, taskNames: names)
      runner.method = "single-task"
      runner.progress = reporter("single-task")
      runner.noticeHandler = notice
      singleTask = try runner.singleTask(problems, ridge: selection?.singleTaskRidge)
      singleTask?.ridge = selection?.singleTaskRidge
      warnings += runner.notices.messages
    }
    var runner = FittedQIteration(parameters: parameters, taskNames: names)
    runner.progress = reporter("multitask")
    runner.noticeHandler = notice
    let fit = try runner.multitask(problems, singleTask: singleTask)
    warnings += runner.notices.messages
    if let warning = Self.certificateWarning(fit.log, parameters: parameters) {
      warnings.append(warning)
    }

    var oracle: PerTaskFit?
    var oracleFeatures: Matrix?
    if let truth {
      var oracleRunner = FittedQIteration(parameters: parameters, taskNames: names)
      oracleRunner.method = "oracle"
      oracleRunner.progress = reporter("oracle")
      oracleRunner.noticeHandler = notice
      oracle = try fitOracle(
        truth, tasks: tasks, featureMap: featureMap, config: config, runner: oracleRunner)
      warnings += oracleRunner.notices.messages
      oracleFeatures = truth.phiStarMatrix
    }

    let storeDigest: String
    do {
      storeDigest = try storeDigestTask.wait()
    } catch {
      throw .input(error.description)
    }
    var model = TrainedModel(
      featureMap: featureMap, parameters: parameters, stepData: config.stepData, taskNames: names,
      representations: fit.representations, heads: fit.heads, log: fit.log,
      singleTask: singleTask, oracle: oracle, oracleFeatures: oracleFeatures, evaluation: nil,
      seed: config.seed, storePath: request.store, storeSHA256: storeDigest,
      configJSON: config.resolvedJSON(), seconds: 0)
    model.rewardBasis = rewardBasis
    if let truth {
      model.evaluation = try TruthEvaluation.compute(model, truth: truth)
    }
    model.featureSelection = featureSelection?.table ?? []
    model.featureSelectionSeconds = featureSelection?.seconds ?? 0
    model.selection = selection?.table ?? []
    model.selectionSeconds = selection?.seconds ?? 0
    model.loggedReturn = selection?.loggedReturn ?? .nan
    model.seconds = Date().timeIntervalSince(started)
    try model.write(to: request.output)
    var qTables: [String] = []
    if let directory = request.qTablesDirectory {
      qTables = try QTableWriter.write(model, to: directory)
    }
    let last = fit.log.last
    return TrainSummary(
      output: request.output, store: request.store, storeSHA256: storeDigest, tasks: names,
      transitions: tasks.map(\.count),
      features: config.features.kind.rawValue
        + (config.features.kind == .table ? " from \(config.features.table ?? "")" : ""),
      featureDimension: featureMap.dimension, rank: config.rank, mode: config.mode.rawValue,
      gamma: config.resolvedGamma, iterations: config.iterations, horizon: config.horizon,
      ridge: parameters.ridge, headRidge: parameters.headRidge,
      ridgeForm: parameters.ridgeForm.rawValue, bellmanResiduals: last?.bellmanResiduals ?? [],
      alsSweeps: fit.log.reduce(0) { $0 + $1.sweeps },
      singleTaskBellmanResiduals: singleTask?.log.last?.bellmanResiduals,
      singleTaskRidge: singleTask?.ridge ?? (singleTask == nil ? nil : parameters.ridge),
      selection: selection?.table, selectionSeconds: selection?.seconds,
      loggedReturn: selection.map(\.loggedReturn).flatMap { $0.isFinite ? $0 : nil },
      featureSelection: featureSelection?.table,
      featureSelectionSeconds: featureSelection?.seconds,
      restarts: fit.log.last?.restarts ?? 0,
      maxRelativeGradient: fit.log.map(\.relativeGradient).max() ?? 0,
      evaluation: model.evaluation, qTables: qTables, warnings: warnings,
      seconds: Date().timeIntervalSince(started))
  }

  /// The warning for multitask iterations whose ALS stopped at the sweep cap before the
  /// optimality certificate (relative gradient above `alsTolerance`; nil when every iteration
  /// reached it). Their rank-k fits are approximate stationary points; the log records each one.
  static func certificateWarning(_ log: [IterationRecord], parameters: FQIParameters) -> String? {
    let missed = log.filter { $0.sweeps > 0 && $0.relativeGradient > parameters.alsTolerance }
    guard let worst = missed.map(\.relativeGradient).max() else { return nil }
    return "ALS stopped at the sweep cap (\(parameters.alsMaxSweeps), --als-max-sweeps) before the optimality certificate in \(missed.count) of \(log.count) multitask iteration(s): relative gradient up to \(NumberText.fourDigits(worst)) against the tolerance \(NumberText.fourDigits(parameters.alsTolerance)) (--als-tolerance); those fits are approximate stationary points (the training log's relative_gradient says which), and more sweeps make them exact"
  }

  /// Resolves the settings `config` leaves on auto: by model selection (discounted), or rank
  /// min(4, T, D) and ridge 1e-4 times the mean Gram diagonal (finite horizon). The head
  /// ridge on auto is the ridge (chosen or given). Afterwards nothing is on auto.
  static func resolveAutomaticSettings(
    _ config: inout TrainConfig, tasks: [TaskTransitions], featureMap: FeatureMap,
    problems: [[RegressionData]], progress: (@Sendable (String) -> Void)?
  ) throws(FQIError) -> ModelSelection.Result? {
    var selection: ModelSelection.Result?
    if config.rankAuto || config.ridgeAuto {
      if config.mode == .discounted {
        // Discounted problems are one step on every row: the selection's reward models reuse them.
        let result = try ModelSelection.select(
          tasks, featureMap: featureMap, config: config, allRows: problems[0], progress: progress)
        config.rank = result.rank
        config.ridge = result.ridge
        config.ridgeForm = result.ridgeForm
        if config.headRidgeAuto { config.headRidge = result.headRidge }
        selection = result
      } else {
        var scale = 0.0
        for problem in problems[0] { scale += problem.gram.meanDiagonal }
        scale /= Double(max(problems[0].count, 1))
        if config.rankAuto { config.rank = min(4, tasks.count, featureMap.dimension) }
        if config.ridgeAuto { config.ridge = 1e-4 * scale }
      }
      config.rankAuto = false
      config.ridgeAuto = false
    }
    // Without a selection (finite horizon, or rank and ridge fixed) auto means factors.
    config.ridgeFormAuto = false
    config.headRidgeAuto = false
    return selection
  }

  /// The oracle baseline: heads on the true features phi* = B*^T x of a synthetic truth (the
  /// head ridge), fitted by `runner` (method "oracle").
  static func fitOracle(
    _ truth: SyntheticTruth, tasks: [TaskTransitions], featureMap: FeatureMap,
    config: TrainConfig, runner: FittedQIteration
  ) throws(FQIError) -> PerTaskFit {
    var oracleSpec = FeatureMapSpec(kind: .table, table: truth.path)
    oracleSpec.normalize = false
    let oracleMap = FeatureMap(
      spec: oracleSpec, observationSpace: featureMap.observationSpace,
      actionSpace: featureMap.actionSpace, dimension: truth.rank,
      structure: .pairs(states: truth.states, actions: truth.actions), table: truth.phiStar)
    let oracleProblems = try RegressionData.problems(tasks, featureMap: oracleMap, config: config)
    return try runner.singleTask(oracleProblems, ridge: runner.parameters.headRidge)
  }

  /// "multitask 12/100: residual 0.1234, dQ 0.0012, 3 sweeps, 0.01 s"
  static func progressLine(_ method: String, _ record: IterationRecord, total: Int) -> String {
    let residual = NumberText.mean(record.bellmanResiduals)
    let change = NumberText.mean(record.qChanges)
    var line = "\(method) \(record.iteration)/\(total)"
    if record.step >= 0 { line += " (step \(record.step))" }
    line += ": Bellman residual \(NumberText.fourDigits(residual)), change in Q \(NumberText.fourDigits(change))"
    if record.sweeps > 0 { line += ", \(record.sweeps) ALS sweeps" }
    return line + String(format: ", %.3f s", record.seconds)
  }

  /// The base feature map of a run: the Fourier settings left on auto are chosen first
  /// (`FeatureSelection`; finite horizon keeps 64 and 1), then the map is built from every
  /// task's observations. A rank above the feature dimension is refused.
  static func buildFeatureMap(
    _ config: inout TrainConfig, tasks: [TaskTransitions], store: String,
    progress: (@Sendable (String) -> Void)?
  ) throws(FQIError) -> (FeatureMap, FeatureSelection.Result?) {
    // Fourier settings left on auto (FeatureSelection.swift); finite horizon keeps 64 and 1.
    var featureSelection: FeatureSelection.Result?
    if FeatureSelection.applies(config) {
      let result = try FeatureSelection.select(tasks, config: config, progress: progress)
      config.features = result.spec
      featureSelection = result
    }
    config.features.resolveAutoToDefaults()
    let featureMap: FeatureMap
    do {
      featureMap = try FeatureMap.build(
        spec: config.features, observationSpace: tasks[0].observationSpace,
        actionSpace: tasks[0].actionSpace, trainingObservations: tasks.map(\.observations),
        seed: config.seed)
    } catch {
      switch error {
      case .invalidSpec(let message): throw .invalidSetting(message)
      case .mismatch(let message): throw .guardrail("\(store): \(message)")
      case .io(let message): throw .input(message)
      }
    }
    if !config.rankAuto && featureMap.dimension < config.rank {
      throw .guardrail(
        "rank k = \(config.rank) exceeds the feature dimension D = \(featureMap.dimension); use --rank \(featureMap.dimension) or less"
      )
    }
    return (featureMap, featureSelection)
  }

  /// Guardrail: refuse only what is not identifiable. With a ridge > 0 every least-squares fit
  /// has a unique solution, and clipping plus the recovery keep FQI bounded, so a task with
  /// fewer than 2D rows is the intended use of a multitask fit (B sees every task's rows; a
  /// head has k parameters). With ridge 0 a task with fewer rows than features (or, one-hot,
  /// with an unvisited pair) has a singular Gram matrix: its single-task solution (the
  /// spectral start and the baseline) is not determined. The suggested ridge is rounded up, so
  /// that passing it as printed is accepted.
  static func checkSampleSizes(_ problems: [[RegressionData]], config: TrainConfig)
    throws(FQIError)
  {
    guard config.ridge == 0 else { return }
    var seen = Set<ObjectIdentifier>()
    for (h, step) in problems.enumerated() {
      for problem in step where seen.insert(ObjectIdentifier(problem)).inserted {
        let d = problem.dimension
        let unvisited =
          problem.gram.structure.isDiagonal ? problem.gram.diagonal.filter { $0 == 0 }.count : 0
        guard problem.count < d || unvisited > 0 else { continue }
        let location =
          config.stepData == .perStep && config.mode == .finiteHorizon ? " at step \(h)" : ""
        let suggestion = suggestedRidge(1e-6 * problem.gram.meanDiagonal)
        let why =
          problem.count < d
          ? "\(problem.count) transitions\(location) for D = \(d) features (fewer rows than features)"
          : "\(unvisited) of its D = \(d) one-hot (state, action) pairs never visited\(location)"
        throw .guardrail(
          "task \(problem.task) has \(why): with ridge 0 its Gram matrix is singular and its least-squares fits are not identifiable; use a ridge > 0 (--ridge \(suggestion) is 1e-6 times its mean Gram diagonal; the default, auto, chooses one), fewer features, or more data"
        )
      }
    }
  }

  /// `value` in the 4 significant digits messages print, rounded up: a suggestion passed back
  /// as printed is at least `value`.
  static func suggestedRidge(_ value: Double) -> String {
    var text = String(format: "%.3e", value)
    var step = 1.0
    while let parsed = Double(text), parsed < value, step < 1e3 {
      text = String(format: "%.3e", value + value * 1e-3 * step)
      step *= 2
    }
    return text
  }

  static func squaredDistance(_ a: [Double], _ b: [Double]) -> Double {
    var sum = 0.0
    for i in 0..<min(a.count, b.count) {
      let d = a[i] - b[i]
      sum += d * d
    }
    return sum
  }
}
