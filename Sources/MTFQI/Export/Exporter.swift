import Foundation

/// One `mtfqi-export` run.
public struct ExportRequest: Sendable {
  public var model: String
  public var output: String
  /// `--store`: materialise the features of this store's tasks.
  public var store: String?
  /// `--task`: only this task of the store (all tasks when nil).
  public var task: String?
  /// `--step`: the B used for materialised features (nil: the representation's default step).
  public var step: Int?

  public init(
    model: String, output: String, store: String? = nil, task: String? = nil, step: Int? = nil
  ) {
    self.model = model
    self.output = output
    self.store = store
    self.task = task
    self.step = step
  }
}

/// What an export wrote, for the summary and `--json`.
public struct ExportSummary: Sendable, Codable {
  public var output: String
  public var model: String
  public var modelSHA256: String
  public var features: String
  public var featureDimension: Int
  public var rank: Int
  public var representation: String
  public var steps: Int
  public var defaultStep: Int
  public var actionSpace: String
  public var observationSpace: String
  public var materialized: [MaterializedTask]
  /// The reward design of the training tasks' reward models the representation carries
  /// (`RewardBasis`), nil when it carries none.
  public var rewardDesign: String?

  public struct MaterializedTask: Sendable, Codable {
    public var task: String
    public var transitions: Int
    public var step: Int
    public var featureSHA256: String

    enum CodingKeys: String, CodingKey {
      case task, transitions, step
      case featureSHA256 = "feature_sha256"
    }
  }

  enum CodingKeys: String, CodingKey {
    case output, model, features, rank, representation, steps, materialized
    case modelSHA256 = "model_sha256"
    case featureDimension = "feature_dim"
    case defaultStep = "default_step"
    case actionSpace = "action_space"
    case observationSpace = "observation_space"
    case rewardDesign = "reward_design"
  }

  public var report: String {
    var lines = [
      "mtfqi-export: \(model) -> \(output)",
      "  phi-hat(s, a) = B^T psi(s, a): \(features) features, D = \(featureDimension), rank k = \(rank), \(representation) representation (\(steps) B; default step \(defaultStep))",
      "  spaces: observations \(observationSpace), actions \(actionSpace)",
      rewardDesign.map {
        "  reward models of the training tasks (design \($0)): mtfqi-fit tests a new task's reward against their span"
      }
        ?? "  no reward models (the model has none: trained before they existed, or a Discrete map too large): mtfqi-fit falls back to the chance span test",
    ]
    for item in materialized {
      lines.append(
        "  materialised \(item.task): \(item.transitions) transitions, phi (\(item.transitions), \(rank)) and phi_next for every action (step \(item.step) B)"
      )
    }
    return lines.joined(separator: "\n")
  }
}

/// The library entry point of `mtfqi-export`.
public enum Exporter {
  /// Reads the model, writes representation.h5 atomically, with materialised features when a
  /// store is given. Throws `.invalidSetting` for a `--step` outside the representation,
  /// `.guardrail` for a store whose spaces do not fit the feature map. `progress` receives one
  /// line per materialised task.
  public static func run(
    _ request: ExportRequest, progress: (@Sendable (String) -> Void)? = nil
  ) throws(FQIError) -> ExportSummary {
    let model = try TrainedModel.read(request.model)
    let digest: String
    do {
      digest = try SHA256Digest.ofFile(request.model)
    } catch {
      throw .input(error.description)
    }
    let representation = ExportedRepresentation(
      model: model, modelPath: request.model, modelSHA256: digest)
    let step = request.step ?? representation.defaultStep
    if request.step != nil && request.store == nil {
      throw .invalidSetting("--step only chooses the B of materialised features: give --store too")
    }
    guard step >= 0, step < max(model.steps, representation.bases.count) else {
      throw .invalidSetting(
        "--step \(step) is outside the model's steps 0..<\(max(model.steps, representation.bases.count))"
      )
    }
    if request.task != nil && request.store == nil {
      throw .invalidSetting("--task names a task of --store: give --store too")
    }
    var materialized: [MaterializedFeatures] = []
    var storeDigest = ""
    if let store = request.store {
      let tasks = try TaskTransitions.load(store: store, tasks: request.task.map { [$0] })
      for task in tasks {
        try representation.checkCompatible(
          observationSpace: task.observationSpace, actionSpace: task.actionSpace, store: store,
          task: task.name, source: request.model, observations: task.observations)
      }
      let blasThreads = LinearAlgebra.blasThreadCount
      LinearAlgebra.setBLASThreadCount(1)
      defer { LinearAlgebra.setBLASThreadCount(blasThreads) }
      for (index, task) in tasks.enumerated() {
        progress?("materialising the features of task \(task.name) (\(index + 1) of \(tasks.count))")
        do {
          materialized.append(
            try MaterializedFeatures.compute(
              task, map: representation.featureMap, b: representation.basis(step: step)))
        } catch {
          throw .linearAlgebra(
            context: "materialising the features of task \(task.name)", error: error)
        }
      }
      do {
        storeDigest = try SHA256Digest.ofFile(store)
      } catch {
        throw .input(error.description)
      }
    }
    let features = materialized
    let storeSHA = storeDigest
    try ReuseFiles.writeAtomically(request.output) { file throws(HDF5Error) in
      try representation.writeContents(file)
      if !features.isEmpty {
        let group = try file.root().createGroup("materialized")
        try group.setAttribute("store_path", request.store ?? "")
        try group.setAttribute("store_sha256", storeSHA)
        try group.setAttribute("step", Int64(step))
        try group.setAttribute("task_names", ReuseJSON.array(features.map(\.task)))
        for item in features {
          try item.write(
            to: try group.createGroup(item.task), step: step,
            gamma: representation.parameters.gamma, storePath: request.store ?? "",
            storeSHA256: storeSHA)
        }
      }
    }
    return ExportSummary(
      output: request.output, model: request.model, modelSHA256: digest,
      features: representation.featureMap.spec.kind.rawValue,
      featureDimension: representation.featureMap.dimension, rank: representation.rank,
      representation: representation.isPerStep ? "per_step" : "shared",
      steps: representation.bases.count, defaultStep: representation.defaultStep,
      actionSpace: representation.featureMap.actionSpace.description,
      observationSpace: representation.featureMap.observationSpace.description,
      materialized: features.map {
        ExportSummary.MaterializedTask(
          task: $0.task, transitions: $0.rows, step: step, featureSHA256: $0.digest)
      }, rewardDesign: representation.rewardBasis?.design.rawValue)
  }
}
