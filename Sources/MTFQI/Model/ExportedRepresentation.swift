import Foundation

/// The frozen representation phi-hat(s, a) = B-hat^T psi(s, a) of a trained model, as an artifact
/// of its own (representation.h5, schemas/representation.md): the base feature map psi with
/// every parameter needed to compute it, B-hat (one, or one per step), the action and
/// observation spaces, the rank, the FQI settings a downstream fit starts from, and the
/// provenance of the model. Nothing refers back to the training store.
///
/// `bases[r]` is D x k, column-major; r = 0 for a shared representation, r = h (step) for one B
/// per step in finite-horizon mode.
public struct ExportedRepresentation: Sendable {
  public static let format = "mtfqi.representation"
  public static let formatVersion: Int64 = 1

  public var featureMap: FeatureMap
  public var bases: [Matrix]
  /// The step whose B is used when one feature map is wanted for every step (materialised
  /// features, `mtfqi-fit --step`): 0, the first step, fitted last in the backward pass.
  /// Always 0 for a shared representation.
  public var defaultStep: Int
  /// The model's FQI settings: the defaults of `mtfqi-fit`.
  public var parameters: FQIParameters
  public var stepData: TrainConfig.StepData
  /// Provenance.
  public var modelPath: String
  public var modelSHA256: String
  public var modelStorePath: String
  public var modelStoreSHA256: String
  public var taskNames: [String]
  public var configJSON: String
  public var seed: UInt64
  /// The training tasks' reward models (nil when the model has none).
  public var rewardBasis: RewardBasis?

  public var rank: Int { parameters.rank }
  public var isPerStep: Bool { bases.count > 1 }

  /// B for step h (the shared B when there is one).
  public func basis(step h: Int) -> Matrix { bases.count == 1 ? bases[0] : bases[h] }

  /// The representation of a trained model (reads nothing else).
  public init(model: TrainedModel, modelPath: String, modelSHA256: String) {
    featureMap = model.featureMap
    bases = model.representations
    defaultStep = 0
    parameters = model.parameters
    stepData = model.stepData
    self.modelPath = modelPath
    self.modelSHA256 = modelSHA256
    modelStorePath = model.storePath
    modelStoreSHA256 = model.storeSHA256
    taskNames = model.taskNames
    configJSON = model.configJSON
    seed = model.seed
    rewardBasis = model.rewardBasis
  }

  init(
    featureMap: FeatureMap, bases: [Matrix], defaultStep: Int, parameters: FQIParameters,
    stepData: TrainConfig.StepData, modelPath: String, modelSHA256: String,
    modelStorePath: String, modelStoreSHA256: String, taskNames: [String], configJSON: String,
    seed: UInt64
  ) {
    self.featureMap = featureMap
    self.bases = bases
    self.defaultStep = defaultStep
    self.parameters = parameters
    self.stepData = stepData
    self.modelPath = modelPath
    self.modelSHA256 = modelSHA256
    self.modelStorePath = modelStorePath
    self.modelStoreSHA256 = modelStoreSHA256
    self.taskNames = taskNames
    self.configJSON = configJSON
    self.seed = seed
  }

  /// phi-hat at every (state, action) pair of a Discrete observation space: an (S * A) x k
  /// column-major matrix, row s * A + a (nil for a non-Discrete observation space).
  public func allPairFeatures(step h: Int) throws(LinearAlgebraError) -> Matrix? {
    try Self.allPairFeatures(featureMap, basis(step: h))
  }

  static func allPairFeatures(_ map: FeatureMap, _ b: Matrix) throws(LinearAlgebraError) -> Matrix?
  {
    if case .pairs = map.structure, map.table == nil, map.observationSpace.isDiscrete {
      return b  // one-hot: Psi = I
    }
    guard let psi = map.allPairFeatures() else { return nil }
    return try LinearAlgebra.gemm(psi, b)
  }

  // MARK: Writing

  /// Writes the root attributes, `/features` and `/representation/B` into `file`.
  func writeContents(_ file: HDF5File) throws(HDF5Error) {
    let root = try file.root()
    try root.setAttribute("format", Self.format)
    try root.setAttribute("format_version", Self.formatVersion)
    try root.setAttribute("generator", "mtfqi-export")
    try root.setAttribute("version", MTFQIVersion.string)
    try Self.writeSettings(root, parameters: parameters, stepData: stepData)
    try root.setAttribute("representation", isPerStep ? "per_step" : "shared")
    try root.setAttribute("default_step", Int64(defaultStep))
    try root.setAttribute("rank", Int64(rank))
    try root.setAttribute("feature_dim", Int64(featureMap.dimension))
    try root.setAttribute("observation_space", featureMap.observationSpace.json)
    try root.setAttribute("action_space", featureMap.actionSpace.json)
    try root.setAttribute("model_path", modelPath)
    try root.setAttribute("model_sha256", modelSHA256)
    try root.setAttribute("model_store_path", modelStorePath)
    try root.setAttribute("model_store_sha256", modelStoreSHA256)
    try root.setAttribute("task_names", ReuseJSON.array(taskNames))
    try root.setAttribute("config", configJSON)
    try root.setAttribute("seed", seed)
    try featureMap.write(to: try root.createGroup("features"))
    try Self.writeBases(try root.createGroup("representation"), bases)
    try rewardBasis?.write(root)
  }

  /// The FQI settings as root attributes (the same names as model.h5).
  static func writeSettings(
    _ group: HDF5Group, parameters: FQIParameters, stepData: TrainConfig.StepData
  )
    throws(HDF5Error)
  {
    switch parameters.objective {
    case .discounted(let gamma, let iterations):
      try group.setAttribute("mode", "discounted")
      try group.setAttribute("gamma", gamma)
      try group.setAttribute("iterations", Int64(iterations))
    case .finiteHorizon(let horizon, let gamma):
      try group.setAttribute("mode", "finite_horizon")
      try group.setAttribute("gamma", gamma)
      try group.setAttribute("horizon", Int64(horizon))
    }
    try group.setAttribute("step_data", stepData.rawValue)
    try group.setAttribute("ridge", parameters.ridge)
    try group.setAttribute("head_ridge", parameters.headRidge)
    try group.setAttribute("ridge_form", parameters.ridgeForm.rawValue)
    try group.setAttribute("ridge_convention", "mean")
    try group.setAttribute("divergence_factor", parameters.divergenceFactor)
    try group.setAttribute("clip_values", Int64(parameters.clipValues ? 1 : 0))
  }

  /// `B` as (D, k), or (R, D, k) for one B per step, row-major.
  static func writeBases(_ group: HDF5Group, _ bases: [Matrix]) throws(HDF5Error) {
    guard let first = bases.first else { return }
    if bases.count == 1 {
      try group.writeDataset("B", first.rowMajorValues(), shape: [first.rows, first.columns])
    } else {
      try group.writeDataset(
        "B", bases.flatMap { $0.rowMajorValues() }, shape: [bases.count, first.rows, first.columns])
    }
  }

  /// Reads `B` written by `writeBases`, checking it against D.
  static func readBases(_ group: HDF5Group, dimension d: Int, context: String) throws -> [Matrix] {
    let dataset = try group.dataset("B")
    let shape = dataset.shape
    // The rank, when stored, must be B's (a B stored transposed is refused, not reshaped).
    if let root = try? group.file.root(), try root.hasAttribute("rank") {
      let rank = try root.integerAttribute("rank", in: 1...max(1, d))
      guard shape.last == rank else {
        throw FQIError.input(
          "\(context)/B has shape \(shape), expected (D, k) or (H, D, k) with D = \(d) and k = rank = \(rank)")
      }
    }
    let values = try dataset.readFinite()
    switch shape.count {
    case 2 where shape[0] == d && shape[1] >= 1 && shape[1] <= d:
      return [Matrix(rows: d, columns: shape[1], rowMajor: values)]
    case 3 where shape[1] == d && shape[0] >= 1 && shape[2] >= 1 && shape[2] <= d:
      let size = d * shape[2]
      return (0..<shape[0]).map {
        Matrix(rows: d, columns: shape[2], rowMajor: Array(values[($0 * size)..<(($0 + 1) * size)]))
      }
    default:
      throw FQIError.input(
        "\(context)/B has shape \(shape), expected (D, k) or (H, D, k) with D = \(d)")
    }
  }

  /// Reads the settings written by `writeSettings`.
  static func readSettings(_ group: HDF5Group, rank: Int, perStep: Bool, context: String) throws
    -> (FQIParameters, TrainConfig.StepData)
  {
    // Range-checked on read: a corrupt value is the file's fault, never reported as a flag's.
    let mode = try group.stringAttribute("mode")
    let gamma = try group.realAttribute("gamma", in: 0...1)
    let objective: FQIParameters.Objective
    switch mode {
    case "discounted":
      guard gamma < 1 else {
        throw FQIError.input("\(context): /: attribute 'gamma': expected a discount in [0, 1), found \(gamma)")
      }
      objective = .discounted(
        gamma: gamma, iterations: try group.integerAttribute("iterations", in: ModelLimits.iterations))
    case "finite_horizon":
      objective = .finiteHorizon(
        horizon: try group.integerAttribute("horizon", in: ModelLimits.horizon), gamma: gamma)
    default:
      throw FQIError.input("\(context): unknown mode '\(mode)'")
    }
    let stepText = try group.stringAttribute("step_data")
    guard let stepData = TrainConfig.StepData(rawValue: stepText) else {
      throw FQIError.input("\(context): unknown step_data '\(stepText)'")
    }
    var parameters = FQIParameters(
      objective: objective, rank: rank, ridge: try group.realAttribute("ridge", in: 0...ModelLimits.setting),
      headRidge: try group.realAttribute("head_ridge", in: 0...ModelLimits.setting),
      sharedRepresentation: !perStep,
      divergenceFactor: try group.realAttribute("divergence_factor", in: 0...ModelLimits.setting),
      // Absent before clipping existed: those models were fitted without it.
      clipValues: try group.hasAttribute("clip_values")
        ? try group.scalarAttribute("clip_values", as: Int64.self) != 0 : false)
    // Absent before the ridge on theta existed: those models put it on the factors.
    if try group.hasAttribute("ridge_form") {
      let text = try group.stringAttribute("ridge_form")
      guard let form = FQIParameters.RidgeForm(rawValue: text) else {
        throw FQIError.input(
          "\(context): attribute ridge_form: expected \"factors\" or \"theta\", found '\(text)'")
      }
      parameters.ridgeForm = form
    }
    return (parameters, stepData)
  }

  /// Writes representation.h5 atomically (no materialised features; see `Exporter`).
  public func write(to path: String) throws(FQIError) {
    try ReuseFiles.writeAtomically(path) { file throws(HDF5Error) in try writeContents(file) }
  }

  // MARK: Reading

  /// Reads representation.h5 (a file written by `mtfqi-export`). Throws `.input` naming the
  /// file and object when it is not a representation or is inconsistent.
  public static func read(_ path: String) throws(FQIError) -> ExportedRepresentation {
    do {
      let file = try HDF5File.open(path)
      let root = try file.root()
      try ReuseFiles.checkFormat(
        root, path: path, format: format, version: formatVersion, what: "representation")
      return try read(root: root, file: file, path: path)
    } catch let error as FQIError {
      throw error
    } catch {
      throw .input(prefixed(path, "\(path): ", error))
    }
  }

  /// Reads the parts shared by representation.h5 and head.h5 (which embeds the representation).
  static func read(root: HDF5Group, file: HDF5File, path: String) throws -> ExportedRepresentation {
    let featureMap: FeatureMap
    let featureGroup = try file.group("/features")
    do throws(FeatureError) {
      featureMap = try FeatureMap.read(from: featureGroup)
    } catch {
      throw FQIError.input(error.description)
    }
    let bases = try readBases(
      try file.group("/representation"), dimension: featureMap.dimension,
      context: "\(path): /representation")
    let rank = bases[0].columns
    let (parameters, stepData) = try readSettings(
      root, rank: rank, perStep: bases.count > 1, context: path)
    if case .finiteHorizon(let horizon, _) = parameters.objective, bases.count > 1,
      bases.count != horizon
    {
      throw FQIError.input(
        "\(path): /representation/B holds \(bases.count) steps but horizon is \(horizon)")
    }
    func text(_ name: String) throws -> String {
      try root.hasAttribute(name) ? try root.stringAttribute(name) : ""
    }
    let namesText = try text("task_names")
    var names: [String] = []
    if !namesText.isEmpty {
      guard let parsed = try JSONSerialization.jsonObject(with: Data(namesText.utf8)) as? [String]
      else {
        throw FQIError.input("\(path): attribute task_names is not a JSON array of names")
      }
      names = parsed
    }
    var representation = ExportedRepresentation(
      featureMap: featureMap, bases: bases,
      defaultStep: try root.hasAttribute("default_step")
        ? try root.integerAttribute("default_step", in: 0...(ModelLimits.horizon.upperBound - 1)) : 0,
      parameters: parameters, stepData: stepData, modelPath: try text("model_path"),
      modelSHA256: try text("model_sha256"), modelStorePath: try text("model_store_path"),
      modelStoreSHA256: try text("model_store_sha256"), taskNames: names,
      configJSON: try text("config"),
      seed: try root.hasAttribute("seed") ? try root.scalarAttribute("seed", as: UInt64.self) : 0)
    representation.rewardBasis = try RewardBasis.read(
      file, map: featureMap, tasks: names.isEmpty ? nil : names.count, context: path)
    return representation
  }

  // MARK: Compatibility with a store

  /// Refuses a store task whose spaces do not fit this representation's feature map, with a
  /// message naming both files, the task and what differs.
  ///
  /// Compatibility is containment (`Space.containmentProblem`): the store's action space must lie
  /// inside the training actions (the heads index actions); pair feature maps (one-hot, table)
  /// need a Discrete observation space inside the map's states; block feature maps (raw,
  /// fourier) need a Box of the same shape (they are defined on all of R^d, so bounds are not
  /// compared). `observations` (the task's, optional) let a refusal suggest
  /// `--observation-space discrete:N` when a one-wide Box holds only integers.
  public func checkCompatible(
    observationSpace: Space, actionSpace: Space, store: String, task: String, source: String,
    observations: [Double] = []
  ) throws(FQIError) {
    let map = featureMap
    let kind = map.spec.kind.rawValue
    if let problem = map.actionSpace.containmentProblem(
      actionSpace, inner: "the action space of task \(task) of \(store)", outer: "the representation's action space", bounds: false)
    {
      throw .guardrail(
        "\(source): \(problem): the features phi-hat(s, a) and the max over actions are defined only for the training actions"
      )
    }
    if let problem = map.observationSpace.containmentProblem(
      observationSpace, inner: "the observation space of task \(task) of \(store)",
      outer: "the representation's observation space (\(kind) features)", bounds: false)
    {
      var hint = ""
      if case .discrete(let n, _) = map.observationSpace,
        let text = Space.integerBoxHint(observationSpace, values: observations, n: n)
      {
        hint = "; \(text)"
      }
      throw .guardrail("\(source): the feature map does not fit the store: \(problem)\(hint)")
    }
  }
}

/// Small helpers shared by the reuse artifacts.
enum ReuseJSON {
  /// A JSON array of strings.
  static func array(_ names: [String]) -> String {
    "[" + names.map { FeatureMap.jsonString($0) }.joined(separator: ",") + "]"
  }
}

enum ReuseFiles {
  /// Creates `path` through a temporary file beside it, renamed into place after `body`
  /// (`writeHDF5Atomically`, shared with model.h5).
  static func writeAtomically(_ path: String, _ body: (HDF5File) throws(HDF5Error) -> Void)
    throws(FQIError)
  {
    try writeHDF5Atomically(path, body)
  }

  /// Checks the root attributes `format` and `format_version`.
  static func checkFormat(
    _ root: HDF5Group, path: String, format: String, version: Int64, what: String
  ) throws {
    let found = try root.hasAttribute("format") ? try root.stringAttribute("format") : ""
    guard found == format else {
      throw FQIError.input(
        "\(path): not an mtfqi \(what) (root attribute format is '\(found)', expected '\(format)')")
    }
    let foundVersion = try root.scalarAttribute("format_version", as: Int64.self)
    guard foundVersion == version else {
      throw FQIError.input(
        "\(path): \(what) format_version \(foundVersion) is not supported (this mtfqi reads \(version))"
      )
    }
  }

  /// The root attribute `format` of an HDF5 file ("" when absent).
  static func formatOf(_ path: String) throws(FQIError) -> String {
    do {
      let root = try HDF5File.open(path).root()
      return try root.hasAttribute("format") ? try root.stringAttribute("format") : ""
    } catch {
      throw .input(prefixed(path, "\(path): ", error))
    }
  }
}
