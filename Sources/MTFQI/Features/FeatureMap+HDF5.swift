import Foundation

extension FeatureMap {
  /// Writes the map into `group` (model.h5 `/features`, schemas/model.md): attributes `kind`,
  /// `spec` (JSON), `dimension`, `observation_space`, `action_space`, `structure`,
  /// `block_size`; datasets `table` (S, A, D), `fourier_weights` (d, m), `fourier_offsets`
  /// (m,), `observation_mean` and `observation_scale` (d,) as the kind needs.
  public func write(to group: HDF5Group) throws(HDF5Error) {
    try group.setAttribute("kind", spec.kind.rawValue)
    try group.setAttribute("spec", Self.specJSON(spec))
    try group.setAttribute("dimension", Int64(dimension))
    try group.setAttribute("observation_space", observationSpace.json)
    try group.setAttribute("action_space", actionSpace.json)
    switch structure {
    case .pairs:
      try group.setAttribute("structure", "pairs")
    case .actionBlocks:
      try group.setAttribute("structure", "action_blocks")
    }
    try group.setAttribute("block_size", Int64(blockSize))
    if let table {
      try group.writeDataset("table", table, shape: [stateCount, actionCount, dimension])
      try group.setAttribute("table_source", tableSource ?? "")
      try group.setAttribute("table_sha256", tableSHA256 ?? "")
    }
    if let fourierWeights, let fourierOffsets {
      try group.writeDataset(
        "fourier_weights", fourierWeights, shape: [observationDimension, fourierOffsets.count])
      try group.writeDataset("fourier_offsets", fourierOffsets, shape: [fourierOffsets.count])
      try group.setAttribute("bandwidth", spec.bandwidth)
    }
    if let normalization {
      try group.writeDataset(
        "observation_mean", normalization.mean, shape: [normalization.mean.count])
      try group.writeDataset(
        "observation_scale", normalization.scale, shape: [normalization.scale.count])
    }
  }

  /// Reads a map written by `write(to:)`; throws `.mismatch` naming the file and object when
  /// something is missing or inconsistent.
  public static func read(from group: HDF5Group) throws(FeatureError) -> FeatureMap {
    let context = "\(group.file.path): \(group.path)"
    do {
      let specText = try group.stringAttribute("spec")
      let spec: FeatureMapSpec
      do {
        spec = try JSONDecoder().decode(FeatureMapSpec.self, from: Data(specText.utf8))
      } catch {
        throw FeatureError.mismatch(
          "\(context): attribute 'spec' is not a feature-map spec: \(error)")
      }
      let observationSpace: Space
      let actionSpace: Space
      do {
        observationSpace = try Space.parse(
          try group.stringAttribute("observation_space"), context: context + " observation_space")
        actionSpace = try Space.parse(
          try group.stringAttribute("action_space"), context: context + " action_space")
      } catch let error as MTFQIError {
        throw FeatureError.mismatch(error.description)
      }
      let dimension = Int(try group.scalarAttribute("dimension", as: Int64.self))
      let blockSize = Int(try group.scalarAttribute("block_size", as: Int64.self))
      let structure: Structure
      switch try group.stringAttribute("structure") {
      case "pairs":
        structure = .pairs(
          states: discreteSize(observationSpace), actions: discreteSize(actionSpace))
      case "action_blocks":
        structure = .actionBlocks(actions: discreteSize(actionSpace), blockSize: blockSize)
      case let other:
        throw FeatureError.mismatch("\(context): unknown structure '\(other)'")
      }
      func optional(_ name: String) throws -> [Double]? {
        try group.contains(name) ? try group.dataset(name).read(as: Double.self) : nil
      }
      let table = try optional("table")
      let weights = try optional("fourier_weights")
      let offsets = try optional("fourier_offsets")
      let mean = try optional("observation_mean")
      let scale = try optional("observation_scale")
      var normalization: ObservationNormalization?
      if let mean, let scale {
        guard mean.count == scale.count, mean.count == observationSpace.width else {
          throw FeatureError.mismatch(
            "\(context): observation_mean/observation_scale do not match the observation space")
        }
        normalization = ObservationNormalization(mean: mean, scale: scale)
      }
      let map = FeatureMap(
        spec: spec, observationSpace: observationSpace, actionSpace: actionSpace,
        dimension: dimension, structure: structure, table: table,
        tableSource: try group.hasAttribute("table_source")
          ? try group.stringAttribute("table_source") : nil,
        tableSHA256: try group.hasAttribute("table_sha256")
          ? try group.stringAttribute("table_sha256") : nil,
        fourierWeights: weights, fourierOffsets: offsets, normalization: normalization)
      try map.checkConsistency(context: context)
      return map
    } catch let error as FeatureError {
      throw error
    } catch {
      throw FeatureError.io("\(context): \(error)")
    }
  }

  /// Checks that the arrays fit the kind and the dimension.
  func checkConsistency(context: String) throws(FeatureError) {
    let actions = actionCount
    let d = observationDimension
    func fail(_ what: String) -> FeatureError { .mismatch("\(context): \(what)") }
    switch spec.kind {
    case .oneHot:
      guard dimension == stateCount * actions else {
        throw fail("one-hot dimension \(dimension) is not S * A")
      }
    case .table:
      guard let table, table.count == stateCount * actions * dimension else {
        throw fail("the table does not hold S * A * D values")
      }
    case .raw:
      guard dimension == actions * (d + 1), blockSize == d + 1 else {
        throw fail("raw dimension \(dimension) is not A * (d + 1)")
      }
    case .fourier:
      guard let fourierWeights, let fourierOffsets, fourierOffsets.count == blockSize,
        fourierWeights.count == d * blockSize, dimension == actions * blockSize
      else { throw fail("the Fourier weights do not fit the dimension") }
    }
    if spec.normalize && (spec.kind == .raw || spec.kind == .fourier) && normalization == nil {
      throw fail("the spec asks for normalised observations but no statistics are stored")
    }
  }

  /// The spec as JSON text with sorted keys (deterministic; numbers in Swift's shortest
  /// round-trip form).
  static func specJSON(_ spec: FeatureMapSpec) -> String {
    var fields = [
      "\"bandwidth\": \(spec.bandwidth)",
      "\"fourier_features\": \(spec.fourierFeatures)",
      "\"kind\": \(jsonString(spec.kind.rawValue))",
      "\"normalize\": \(spec.normalize)",
    ]
    if let table = spec.table { fields.append("\"table\": \(jsonString(table))") }
    return "{" + fields.joined(separator: ", ") + "}"
  }

  /// A JSON string literal (quotes, backslashes and control characters escaped).
  static func jsonString(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": result += "\\\""
      case "\\": result += "\\\\"
      case "\n": result += "\\n"
      case "\t": result += "\\t"
      case "\r": result += "\\r"
      default:
        if scalar.value < 0x20 {
          let hex = String(scalar.value, radix: 16)
          result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        } else {
          result.unicodeScalars.append(scalar)
        }
      }
    }
    return result + "\""
  }
}
