import Foundation

/// One `mtfqi-evaluate` run: models and heads, a truth file, the metrics file to write.
public struct EvaluateRequest: Sendable {
  public var inputs: [String]
  public var truth: String?
  public var output: String?

  public init(inputs: [String], truth: String?, output: String?) {
    self.inputs = inputs
    self.truth = truth
    self.output = output
  }
}

/// metrics.json (schemas/metrics.schema.json).
public struct MetricsReport: Sendable, Codable {
  public static let format = "mtfqi.metrics"
  public static let formatVersion = 1

  public struct TruthInfo: Sendable, Codable {
    public var path: String
    public var sha256: String
    public var mode: String
    public var discount: Double
    public var horizon: Int?
    public var states: Int
    public var actions: Int
    public var rank: Int
  }

  /// One task of one input: its truth scale and every method's metrics.
  public struct TaskMetrics: Sendable, Codable {
    public var task: String
    /// The truth group the task is in: "train" or "new".
    public var group: String
    public var qStarRMS: Double
    /// sum_s rho0(s) V*(s) (at step 0): the scale of the suboptimality.
    public var optimalValue: Double
    public var methods: [MethodMetrics]

    enum CodingKeys: String, CodingKey {
      case task, group, methods
      case qStarRMS = "q_star_rms"
      case optimalValue = "optimal_value"
    }
  }

  /// Held-out Bellman errors recorded by `mtfqi-fit --holdout` (no truth needed).
  public struct HoldoutMetrics: Sendable, Codable {
    public var fraction: Double
    public var rows: Int
    public var frozen: Double
    public var scratch: Double?
    public var oracle: Double?
  }

  /// Means over an input's tasks, per method.
  public struct MethodSummary: Sendable, Codable {
    public var tasks: Int
    public var qErrorMu: Double
    public var qErrorUniform: Double
    public var relativeQError: Double
    public var suboptimality: Double

    enum CodingKeys: String, CodingKey {
      case tasks, suboptimality
      case qErrorMu = "q_error_mu"
      case qErrorUniform = "q_error_uniform"
      case relativeQError = "relative_q_error"
    }
  }

  public struct Input: Sendable, Codable {
    public var path: String
    public var sha256: String
    /// "model" or "head".
    public var kind: String
    /// Head only: the task fitted.
    public var task: String?
    /// The tasks of the input that are not in the truth (not evaluated).
    public var unmatchedTasks: [String]
    public var tasks: [TaskMetrics]
    public var summary: [String: MethodSummary]
    public var representation: RepresentationMetrics?
    public var holdout: HoldoutMetrics?
    /// Head only: transitions fitted.
    public var fittedTransitions: Int?
    public var notes: [String]

    enum CodingKeys: String, CodingKey {
      case path, sha256, kind, task, tasks, summary, representation, holdout, notes
      case unmatchedTasks = "unmatched_tasks"
      case fittedTransitions = "fitted_transitions"
    }
  }

  public var format = MetricsReport.format
  public var formatVersion = MetricsReport.formatVersion
  public var version = MTFQIVersion.string
  public var truth: TruthInfo?
  public var inputs: [Input]

  enum CodingKeys: String, CodingKey {
    case format, version, truth, inputs
    case formatVersion = "format_version"
  }
}

/// The library entry point of `mtfqi-evaluate`.
public enum Evaluator {
  /// Evaluates every input; `progress` receives one line per input.
  public static func run(
    _ request: EvaluateRequest, progress: (@Sendable (String) -> Void)? = nil
  ) throws(FQIError) -> MetricsReport {
    guard !request.inputs.isEmpty else { throw .invalidSetting("give at least one model or head") }
    let truth = try request.truth.map { path throws(FQIError) in try EvaluationTruth.read(path) }
    var inputs: [MetricsReport.Input] = []
    let blasThreads = LinearAlgebra.blasThreadCount
    LinearAlgebra.setBLASThreadCount(1)
    defer { LinearAlgebra.setBLASThreadCount(blasThreads) }
    for (index, path) in request.inputs.enumerated() {
      progress?("evaluating \(path) (\(index + 1) of \(request.inputs.count))")
      let format = try ReuseFiles.formatOf(path)
      let digest: String
      do {
        digest = try SHA256Digest.ofFile(path)
      } catch {
        throw .input(error.description)
      }
      switch format {
      case TrainedModel.format:
        guard let truth else {
          throw .invalidSetting(
            "\(path) is a model: evaluating a model needs --truth (the held-out Bellman error without a truth is a head's, from mtfqi-fit --holdout)"
          )
        }
        inputs.append(
          try evaluate(model: try TrainedModel.read(path), path: path, digest: digest, truth: truth)
        )
      case TrainedHead.format:
        inputs.append(
          try evaluate(head: try TrainedHead.read(path), path: path, digest: digest, truth: truth))
      default:
        throw .input(
          "\(path): neither a model (format '\(TrainedModel.format)') nor a head (format '\(TrainedHead.format)'): its root attribute format is '\(format)'"
        )
      }
    }
    let report = MetricsReport(
      truth: truth.map {
        MetricsReport.TruthInfo(
          path: $0.path, sha256: $0.sha256, mode: $0.mode, discount: $0.discount,
          horizon: $0.horizon, states: $0.states, actions: $0.actions, rank: $0.rank)
      }, inputs: inputs)
    if let output = request.output {
      try write(report, to: output)
    }
    return report
  }

  static func write(_ report: MetricsReport, to path: String) throws(FQIError) {
    let text: String
    do {
      text = try JSONText.encode(report) + "\n"
    } catch {
      throw .output("\(path): cannot encode the metrics: \(error)")
    }
    do {
      try AtomicOutput.writeText(text, to: path)
    } catch {
      throw .output(error.description)
    }
  }

  // MARK: Models

  static func evaluate(model: TrainedModel, path: String, digest: String, truth: EvaluationTruth)
    throws(FQIError) -> MetricsReport.Input
  {
    try truth.checkCompatible(
      featureMap: model.featureMap, objective: model.parameters.objective, source: path)
    let map = model.featureMap
    var tasks: [MetricsReport.TaskMetrics] = []
    var unmatched: [String] = []
    do {
      for (t, name) in model.taskNames.enumerated() {
        guard let task = truth.tasks[name] else {
          unmatched.append(name)
          continue
        }
        var methods: [MethodMetrics] = []
        for method in model.qMethods {
          guard let tables = try model.qTables(method, task: t, steps: truth.steps) else { continue }
          methods.append(
            try MethodMetrics.compute(
              method: method.rawValue, tables: tables, task: task, truth: truth))
        }
        tasks.append(taskMetrics(task, methods: methods, truth: truth))
      }
    } catch let error as FQIError {
      throw error
    } catch let error as LinearAlgebraError {
      throw .linearAlgebra(context: "\(path): Q tables", error: error)
    } catch {
      throw .input("\(path): \(error)")
    }
    let basisOfStep = (0..<truth.steps).map { model.representations.count == 1 ? 0 : $0 }
    let representation = try RepresentationMetrics.compute(
      featureMap: map, bases: model.representations, basisOfStep: basisOfStep,
      tasks: truth.heldOutTasks, truth: truth)
    return MetricsReport.Input(
      path: path, sha256: digest, kind: "model", task: nil, unmatchedTasks: unmatched, tasks: tasks,
      summary: summarize(tasks), representation: representation, holdout: nil,
      fittedTransitions: nil, notes: [])
  }

  // MARK: Heads

  static func evaluate(head: TrainedHead, path: String, digest: String, truth: EvaluationTruth?)
    throws(FQIError) -> MetricsReport.Input
  {
    var notes: [String] = []
    if let failure = head.scratchFailure {
      notes.append("the scratch baseline was not fitted: \(failure)")
    }
    let holdout = head.holdout.map {
      MetricsReport.HoldoutMetrics(
        fraction: $0.fraction, rows: $0.rows.count, frozen: $0.frozen, scratch: $0.scratch,
        oracle: $0.oracle)
    }
    guard let truth else {
      guard holdout != nil else {
        throw .invalidSetting(
          "\(path): without --truth a head is evaluated by its held-out Bellman error, but it was fitted without --holdout; give --truth or refit with mtfqi-fit --holdout 0.2"
        )
      }
      return MetricsReport.Input(
        path: path, sha256: digest, kind: "head", task: head.task, unmatchedTasks: [], tasks: [],
        summary: [:],
        representation: nil, holdout: holdout, fittedTransitions: head.fittedTransitions,
        notes: notes)
    }
    let map = head.representation.featureMap
    try truth.checkCompatible(featureMap: map, objective: head.parameters.objective, source: path)
    guard let task = truth.tasks[head.task] else {
      return MetricsReport.Input(
        path: path, sha256: digest, kind: "head", task: head.task, unmatchedTasks: [head.task],
        tasks: [],
        summary: [:], representation: nil, holdout: holdout,
        fittedTransitions: head.fittedTransitions,
        notes: ["task \(head.task) is not in \(truth.path)"])
    }
    var methods: [MethodMetrics] = []
    do {
      for method in head.qMethods {
        var phiStar: Matrix?
        if method == .oracle {
          guard head.truthSHA256 == truth.sha256 else {
            notes.append(
              "the oracle head was fitted on the features of \(head.truthPath ?? "another truth file"), not of \(truth.path): not evaluated"
            )
            continue
          }
          phiStar = truth.phiStar
        }
        guard
          let tables = try head.qTables(method, task: 0, steps: truth.steps, phiStar: phiStar)
        else {
          throw FQIError.guardrail("\(path): the head's observation space is not Discrete")
        }
        methods.append(
          try MethodMetrics.compute(
            method: method.rawValue, tables: tables, task: task, truth: truth))
      }
    } catch let error as FQIError {
      throw error
    } catch let error as LinearAlgebraError {
      throw .linearAlgebra(context: "\(path): Q tables", error: error)
    } catch {
      throw .input("\(path): \(error)")
    }
    let tasks = [taskMetrics(task, methods: methods, truth: truth)]
    let representation = try RepresentationMetrics.compute(
      featureMap: map, bases: head.representation.bases, basisOfStep: head.featureSteps,
      tasks: [head.task], truth: truth)
    return MetricsReport.Input(
      path: path, sha256: digest, kind: "head", task: head.task, unmatchedTasks: [], tasks: tasks,
      summary: summarize(tasks), representation: representation, holdout: holdout,
      fittedTransitions: head.fittedTransitions, notes: notes)
  }

  // MARK: Helpers

  static func taskMetrics(
    _ task: EvaluationTruth.Task, methods: [MethodMetrics], truth: EvaluationTruth
  )
    -> MetricsReport.TaskMetrics
  {
    var scale = 0.0
    for value in task.qStar { scale += value * value }
    var optimal = 0.0
    for s in 0..<truth.states { optimal += truth.start[s] * task.vStar[s] }
    return MetricsReport.TaskMetrics(
      task: task.name, group: task.group,
      qStarRMS: (scale / Double(max(task.qStar.count, 1))).squareRoot(), optimalValue: optimal,
      methods: methods)
  }

  static func summarize(_ tasks: [MetricsReport.TaskMetrics]) -> [String: MetricsReport
    .MethodSummary]
  {
    var grouped: [String: [MethodMetrics]] = [:]
    for task in tasks {
      for method in task.methods { grouped[method.method, default: []].append(method) }
    }
    return grouped.mapValues { values in
      func mean(_ key: KeyPath<MethodMetrics, Double>) -> Double {
        NumberText.mean(values.map { $0[keyPath: key] })
      }
      return MetricsReport.MethodSummary(
        tasks: values.count, qErrorMu: mean(\.qErrorMu), qErrorUniform: mean(\.qErrorUniform),
        relativeQError: mean(\.relativeQError), suboptimality: mean(\.suboptimality))
    }
  }
}
