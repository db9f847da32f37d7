/// Writes truth.h5 and the feature table file (layouts: schemas/truth.md,
/// schemas/feature-table.md). Both go through `AtomicOutput`; object timestamps are off, so
/// the same family gives the same bytes.
enum SyntheticTruthWriter {
  static let truthFormat = "mtfqi.synthetic-truth"
  static let featureTableFormat = "mtfqi.feature-table"
  static let formatVersion: Int64 = 1

  /// Writes the feature table x(s,a) as `/features` (S, A, d) float64.
  static func writeFeatureTable(_ family: LowRankMDPFamily, to path: String) throws(MTFQIError) {
    try writeAtomically(path) { file throws(HDF5Error) in
      let root = try file.root()
      try root.setAttribute("format", featureTableFormat)
      try root.setAttribute("format_version", formatVersion)
      try root.setAttribute("source", "mtfqi-synth")
      try root.setAttribute("seed", family.parameters.seed)
      let features = try root.writeDataset(
        "features", family.features, shape: [family.states, family.actions, family.dim])
      try features.setAttribute("kind", "table")
      try features.setAttribute("n_states", Int64(family.states))
      try features.setAttribute("n_actions", Int64(family.actions))
      try features.setAttribute("dim", Int64(family.dim))
    }
  }

  /// Writes every piece of ground truth.
  static func writeTruth(_ family: LowRankMDPFamily, to path: String) throws(MTFQIError) {
    let p = family.parameters
    let s = family.states
    let a = family.actions
    let k = family.rank
    let d = family.dim
    try writeAtomically(path) { file throws(HDF5Error) in
      let root = try file.root()
      try root.setAttribute("format", truthFormat)
      try root.setAttribute("format_version", formatVersion)
      try root.setAttribute("generator", "mtfqi-synth")
      for (name, value) in parameterAttributes(p) {
        switch value {
        case .text(let text): try root.setAttribute(name, text)
        case .integer(let integer): try root.setAttribute(name, integer)
        case .unsigned(let unsigned): try root.setAttribute(name, unsigned)
        case .real(let real): try root.setAttribute(name, real)
        }
      }
      try root.setAttribute("parameters", parametersJSON(p))
      try root.setAttribute("value_tolerance", OptimalValues.tolerance)

      let model = try root.createGroup("model")
      try model.writeDataset("P", family.transition, shape: [s, a, s])
      try model.writeDataset("phi_star", family.phi, shape: [s, a, k])
      try model.writeDataset("nu", family.nu, shape: [k, s])
      try model.writeDataset("b_star", family.representation, shape: [d, k])
      try model.writeDataset("U", family.rotation, shape: [d, d])
      try model.writeDataset("z", family.distractors, shape: [s, a, d - k])
      try model.writeDataset("x", family.features, shape: [s, a, d])

      let behavior = try root.createGroup("behavior")
      try behavior.writeDataset("policy", family.behaviorPolicy, shape: [s, a])
      try behavior.writeDataset(
        "favorite_action", family.favoriteAction.map { Int64($0) }, shape: [s])
      try behavior.writeDataset("start", family.startDistribution, shape: [s])
      let training = family.samplingDistribution(samples: p.samples)
      if let perStep = training.perStep {
        try behavior.writeDataset(
          "occupancy", perStep, shape: [p.resolvedEpisodeLength, s, a])
      }

      try writeTasks(
        family.trainingTasks, group: root.createGroup("train"), family: family,
        samples: p.samples, mu: training.mu)
      try writeTasks(
        family.heldOutTasks, group: root.createGroup("new"), family: family,
        samples: p.newSamples, mu: family.samplingDistribution(samples: p.newSamples).mu)
    }
  }

  private static func writeTasks(
    _ tasks: [SyntheticTask], group: HDF5Group, family: LowRankMDPFamily, samples: Int,
    mu: [Double]
  ) throws(HDF5Error) {
    let s = family.states
    let a = family.actions
    let k = family.rank
    let n = tasks.count
    try group.setAttribute("task_names", jsonArray(tasks.map(\.name)))
    try group.setAttribute("n_tasks", Int64(n))
    try group.setAttribute("samples", Int64(samples))
    try group.writeDataset("theta", tasks.flatMap(\.theta), shape: [n, k])
    try group.writeDataset("rewards", tasks.flatMap(\.rewards), shape: [n, s, a])
    if let horizon = family.parameters.horizon {
      try group.writeDataset("q_star", tasks.flatMap(\.qStar), shape: [n, horizon, s, a])
      try group.writeDataset("v_star", tasks.flatMap(\.vStar), shape: [n, horizon, s])
    } else {
      try group.writeDataset("q_star", tasks.flatMap(\.qStar), shape: [n, s, a])
      try group.writeDataset("v_star", tasks.flatMap(\.vStar), shape: [n, s])
    }
    try group.writeDataset("value_iterations", tasks.map { Int64($0.iterations) }, shape: [n])
    try group.writeDataset("mu", mu, shape: [s, a])
  }

  enum AttributeValue {
    case text(String)
    case integer(Int64)
    case unsigned(UInt64)
    case real(Double)

    var json: String {
      switch self {
      case .text(let text): "\"\(text)\""
      case .integer(let integer): String(integer)
      case .unsigned(let unsigned): String(unsigned)
      case .real(let real): real.description
      }
    }
  }

  /// Every generator parameter as a root attribute, in name order.
  static func parameterAttributes(_ p: SyntheticParameters) -> [(String, AttributeValue)] {
    var values: [String: AttributeValue] = [
      "n_tasks": .integer(Int64(p.tasks)),
      "n_new_tasks": .integer(Int64(p.newTasks)),
      "n_states": .integer(Int64(p.states)),
      "n_actions": .integer(Int64(p.actions)),
      "rank": .integer(Int64(p.rank)),
      "dim": .integer(Int64(p.dim)),
      "samples": .integer(Int64(p.samples)),
      "new_samples": .integer(Int64(p.newSamples)),
      "epsilon": .real(p.epsilon),
      "noise": .real(p.noise),
      "sampling": .text(p.sampling.rawValue),
      "phi_concentration": .real(p.featureConcentration),
      "nu_concentration": .real(p.nextStateConcentration),
      "seed": .unsigned(p.seed),
      "discount": .real(p.discount),
    ]
    switch p.objective {
    case .discounted(let gamma):
      values["mode"] = .text("discounted")
      values["gamma"] = .real(gamma)
    case .finiteHorizon(let horizon):
      values["mode"] = .text("finite_horizon")
      values["horizon"] = .integer(Int64(horizon))
    }
    if p.sampling == .episodes {
      values["episode_length"] = .integer(Int64(p.resolvedEpisodeLength))
    }
    switch p.start {
    case .uniform:
      values["start"] = .text("uniform")
    case .random(let concentration):
      values["start"] = .text("random")
      values["start_concentration"] = .real(concentration)
    }
    return values.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
  }

  /// The same parameters as one JSON object with sorted keys.
  static func parametersJSON(_ p: SyntheticParameters) -> String {
    "{" + parameterAttributes(p).map { "\"\($0.0)\":\($0.1.json)" }.joined(separator: ",") + "}"
  }

  static func jsonArray(_ names: [String]) -> String {
    "[" + names.map { "\"\($0)\"" }.joined(separator: ",") + "]"
  }

  /// Creates the HDF5 file at a temporary path, lets `body` fill it, closes it and renames it
  /// into place (`AtomicOutput.writeHDF5`).
  static func writeAtomically(_ path: String, _ body: (HDF5File) throws(HDF5Error) -> Void)
    throws(MTFQIError)
  {
    try AtomicOutput.writeHDF5(path, body)
  }
}
