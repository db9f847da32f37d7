import Foundation

/// A resolved base feature map psi(s, a) in R^D: the spec plus everything needed to compute it
/// exactly (the feature table, the random Fourier weights, the observation statistics). It is
/// written to and read from model.h5 (`/features`, schemas/model.md), so later stages rebuild
/// the same psi bit for bit.
///
/// Index conventions are those of `FeatureMapSpec`. Observations are given row-major, one row
/// of `observationDimension` values per sample (a Discrete observation is its integer value);
/// actions are the Discrete action values (including the space's `start`).
public struct FeatureMap: Sendable {
  /// How psi is laid out, which decides the shape of every per-task Gram matrix.
  public enum Structure: Sendable, Equatable {
    /// Discrete observations and actions: psi(s, a) is row s * A + a of the (S * A) x D pair
    /// matrix (the identity for one-hot, whose Gram matrices are therefore diagonal).
    case pairs(states: Int, actions: Int)
    /// psi(s, a) = e_a (x) phi(s) with phi(s) in R^m: Gram matrices are block diagonal with one
    /// m x m block per action.
    case actionBlocks(actions: Int, blockSize: Int)
  }

  public let spec: FeatureMapSpec
  public let observationSpace: Space
  public let actionSpace: Space
  /// D.
  public let dimension: Int
  public let structure: Structure
  /// Values per observation (1 for a Discrete observation).
  public let observationDimension: Int
  /// `table`: the (S, A, D) table, row-major.
  public let table: [Double]?
  /// `table`: the file it was read from and its sha256 (informational).
  public let tableSource: String?
  public let tableSHA256: String?
  /// `fourier`: Omega, (d, m) row-major, and the offsets b, (m).
  public let fourierWeights: [Double]?
  public let fourierOffsets: [Double]?
  /// `raw` and `fourier` with `normalize`: the observation statistics.
  public let normalization: ObservationNormalization?

  /// The random stream the Fourier weights come from.
  public static let fourierStream = "features/fourier"

  /// Discrete sizes and starts (0 when not Discrete).
  public var stateCount: Int { Self.discreteSize(observationSpace) }
  public var stateStart: Int64 { Self.discreteStart(observationSpace) }
  public var actionCount: Int { Self.discreteSize(actionSpace) }
  public var actionStart: Int64 { Self.discreteStart(actionSpace) }

  /// Features per action block (m) for block maps; D for pair maps.
  public var blockSize: Int {
    switch structure {
    case .pairs: dimension
    case .actionBlocks(_, let m): m
    }
  }

  static func discreteSize(_ space: Space) -> Int {
    if case .discrete(let n, _) = space { return Int(n) }
    return 0
  }

  static func discreteStart(_ space: Space) -> Int64 {
    if case .discrete(_, let start) = space { return start }
    return 0
  }

  init(
    spec: FeatureMapSpec, observationSpace: Space, actionSpace: Space, dimension: Int,
    structure: Structure, table: [Double]? = nil, tableSource: String? = nil,
    tableSHA256: String? = nil, fourierWeights: [Double]? = nil, fourierOffsets: [Double]? = nil,
    normalization: ObservationNormalization? = nil
  ) {
    self.spec = spec
    self.observationSpace = observationSpace
    self.actionSpace = actionSpace
    self.dimension = dimension
    self.structure = structure
    self.observationDimension = observationSpace.width
    self.table = table
    self.tableSource = tableSource
    self.tableSHA256 = tableSHA256
    self.fourierWeights = fourierWeights
    self.fourierOffsets = fourierOffsets
    self.normalization = normalization
  }

  // MARK: Building

  /// Builds psi for data with these spaces.
  ///
  /// - `trainingObservations`: each training task's current observations, row-major
  ///   (rows x `observationSpace.width`); used only for the normalisation statistics of `raw`
  ///   and `fourier`.
  /// - `seed`: the training seed; `fourier` draws Omega (row-major, d x m, N(0, 1) by
  ///   Box-Muller) and then b (m, uniform [0, 2 pi)) from stream `fourierStream` of it.
  ///
  /// Throws `.invalidSpec` for a bad spec, `.mismatch` when the spaces do not suit the kind (a
  /// non-Discrete action space; one-hot or a table on a non-Discrete observation space; a table
  /// whose sizes differ from the spaces) and `.io` when the table file cannot be read.
  public static func build(
    spec: FeatureMapSpec, observationSpace: Space, actionSpace: Space,
    trainingObservations: [[Double]], seed: UInt64
  ) throws(FeatureError) -> FeatureMap {
    try spec.validate()
    guard case .discrete(let actionN, _) = actionSpace else {
      throw .mismatch(
        "the action space is \(actionSpace), not Discrete: psi(s, a) and the max over actions in the Bellman target need a finite action set"
      )
    }
    let actions = Int(actionN)
    switch spec.kind {
    case .oneHot, .table:
      guard case .discrete(let stateN, _) = observationSpace else {
        let hint = Space.integerBoxHint(observationSpace, values: trainingObservations.flatMap { $0 })
        throw .mismatch(
          "features.kind = \"\(spec.kind.rawValue)\" needs a Discrete observation space, but it is \(observationSpace); "
            + (hint.map { "\($0), or use \"raw\" or \"fourier\" features" } ?? "use \"raw\" or \"fourier\" features")
        )
      }
      let states = Int(stateN)
      if spec.kind == .oneHot {
        let (pairs, overflow) = states.multipliedReportingOverflow(by: actions)
        guard !overflow, pairs <= 50_000_000 else {
          throw .mismatch(
            "one-hot features for \(states) states x \(actions) actions are too many (D = S * A must be at most 50,000,000)"
          )
        }
        return FeatureMap(
          spec: spec, observationSpace: observationSpace, actionSpace: actionSpace,
          dimension: pairs, structure: .pairs(states: states, actions: actions))
      }
      let path = spec.table ?? ""
      let (values, dim, digest) = try readTable(path: path, states: states, actions: actions)
      return FeatureMap(
        spec: spec, observationSpace: observationSpace, actionSpace: actionSpace, dimension: dim,
        structure: .pairs(states: states, actions: actions), table: values, tableSource: path,
        tableSHA256: digest)
    case .raw, .fourier:
      let d = observationSpace.width
      guard d >= 1 else {
        throw .mismatch("the observation space \(observationSpace) has no coordinates")
      }
      for (index, block) in trainingObservations.enumerated() {
        if let bad = block.firstIndex(where: { !$0.isFinite }) {
          throw .mismatch(
            "training task \(index): observation row \(bad / d), coordinate \(bad % d) is \(block[bad]): \(spec.kind.rawValue) features need finite observations"
          )
        }
      }
      let normalization =
        spec.normalize ? ObservationNormalization.fit(trainingObservations, dimension: d) : nil
      if spec.kind == .raw {
        return FeatureMap(
          spec: spec, observationSpace: observationSpace, actionSpace: actionSpace,
          dimension: actions * (d + 1),
          structure: .actionBlocks(actions: actions, blockSize: d + 1),
          normalization: normalization)
      }
      let m = spec.fourierFeatures
      var generator = Xoshiro256StarStar(seed: seed, stream: fourierStream)
      var weights = [Double](repeating: 0, count: d * m)
      for index in weights.indices { weights[index] = generator.nextNormal() }
      var offsets = [Double](repeating: 0, count: m)
      for index in offsets.indices { offsets[index] = 2 * Double.pi * generator.nextUniform() }
      return FeatureMap(
        spec: spec, observationSpace: observationSpace, actionSpace: actionSpace,
        dimension: actions * m, structure: .actionBlocks(actions: actions, blockSize: m),
        fourierWeights: weights, fourierOffsets: offsets, normalization: normalization)
    }
  }

  /// Reads and checks a feature-table file (schemas/feature-table.md): `/features` (S, A, d)
  /// float64 with kind = "table" and n_states, n_actions equal to the spaces' sizes.
  static func readTable(path: String, states: Int, actions: Int) throws(FeatureError) -> (
    values: [Double], dim: Int, sha256: String
  ) {
    do {
      let file = try HDF5File.open(path)
      guard try file.exists("/features") else {
        throw FeatureError.mismatch("\(path): no dataset /features (see schemas/feature-table.md)")
      }
      let dataset = try file.dataset("/features")
      let kind = try dataset.hasAttribute("kind") ? try dataset.stringAttribute("kind") : ""
      guard kind == "table" else {
        throw FeatureError.mismatch(
          "\(path): /features attribute kind is '\(kind)', expected 'table' (schemas/feature-table.md)"
        )
      }
      let shape = dataset.shape
      guard shape.count == 3 else {
        throw FeatureError.mismatch(
          "\(path): /features has shape \(shape), expected (n_states, n_actions, dim)")
      }
      let fileStates = Int(try dataset.scalarAttribute("n_states", as: Int64.self))
      let fileActions = Int(try dataset.scalarAttribute("n_actions", as: Int64.self))
      guard fileStates == states, fileActions == actions, shape[0] == states, shape[1] == actions
      else {
        throw FeatureError.mismatch(
          "\(path): the feature table is for \(fileStates) states x \(fileActions) actions (shape \(shape)), but the store's spaces are Discrete(\(states)) x Discrete(\(actions))"
        )
      }
      guard shape[2] >= 1 else { throw FeatureError.mismatch("\(path): /features has dimension 0") }
      let values = try dataset.read(as: Double.self)
      if let bad = values.firstIndex(where: { !$0.isFinite }) {
        throw FeatureError.mismatch(
          "\(path): /features[\(bad / (actions * shape[2])), \(bad / shape[2] % actions), \(bad % shape[2])] is \(values[bad]), expected a finite number"
        )
      }
      let digest: String
      do {
        digest = try SHA256Digest.ofFile(path)
      } catch {
        throw FeatureError.io(error.description)
      }
      return (values, shape[2], digest)
    } catch let error as FeatureError {
      throw error
    } catch {
      throw FeatureError.io("feature table \(path): \(error)")
    }
  }

  // MARK: Evaluating psi

  /// The (S * A) x D pair matrix of a `.pairs` map, column-major, row s * A + a = psi(s, a);
  /// nil for one-hot (the identity) and for block maps.
  public func pairMatrix() -> Matrix? {
    guard case .pairs(let states, let actions) = structure, let table else { return nil }
    return Matrix(rows: states * actions, columns: dimension, rowMajor: table)
  }

  /// phi(s) for block maps: an n x m column-major matrix for n row-major observations
  /// (n * d values). Rows whose observation is not finite get zero features (they are the
  /// missing next observations of terminal rows, which never bootstrap).
  ///
  /// Precondition: a block map (`raw` or `fourier`).
  public func stateFeatures(_ observations: [Double], rows n: Int) -> Matrix {
    guard case .actionBlocks(_, let m) = structure else {
      preconditionFailure("stateFeatures: \(spec.kind.rawValue) is not a block feature map")
    }
    let d = observationDimension
    precondition(
      observations.count == n * d,
      "stateFeatures: \(observations.count) values for \(n) rows of \(d)")
    // Normalised observations Z (n x d, column-major); rows with a non-finite value (a missing
    // next observation) stay all zero in the result.
    var z = Matrix(rows: n, columns: d)
    var finiteRow = [Bool](repeating: true, count: n)
    z.storage.withUnsafeMutableBufferPointer { zs in
      observations.withUnsafeBufferPointer { obs in
        for r in 0..<n {
          for j in 0..<d {
            let value = obs[r * d + j]
            if !value.isFinite {
              finiteRow[r] = false
              continue
            }
            zs[r + j * n] = normalization?.apply(value, coordinate: j) ?? value
          }
        }
      }
    }
    var result = Matrix(rows: n, columns: m)
    switch spec.kind {
    case .raw:
      result.storage.withUnsafeMutableBufferPointer { out in
        z.storage.withUnsafeBufferPointer { zs in
          for r in 0..<n where finiteRow[r] {
            for j in 0..<d { out[r + j * n] = zs[r + j * n] }
            out[r + d * n] = 1
          }
        }
      }
    default:
      guard let weights = fourierWeights, let offsets = fourierOffsets, n > 0 else { return result }
      // U = Z Omega by one dgemm (Omega is d x m, stored row-major), then the cosines.
      let omega = Matrix(rows: d, columns: m, rowMajor: weights)
      let u: Matrix
      do {
        u = try LinearAlgebra.gemm(z, omega)
      } catch {
        preconditionFailure("stateFeatures: \(error)")  // shapes are (n x d)(d x m) by construction
      }
      let fourierScale = (2 / Double(m)).squareRoot()
      let inverseBandwidth = 1 / spec.bandwidth
      result.storage.withUnsafeMutableBufferPointer { out in
        u.storage.withUnsafeBufferPointer { us in
          for j in 0..<m {
            let offset = offsets[j]
            for r in 0..<n where finiteRow[r] {
              out[r + j * n] = fourierScale * cos(us[r + j * n] * inverseBandwidth + offset)
            }
          }
        }
      }
    }
    return result
  }


  /// psi(s, a) as a D-vector. `observation` holds `observationDimension` values; `action` is a
  /// Discrete action value. Returns nil when the observation or action is outside the spaces.
  public func features(observation: [Double], action: Int64) -> [Double]? {
    let a = Int(action - actionStart)
    guard a >= 0, a < actionCount, observation.count == observationDimension else { return nil }
    var psi = [Double](repeating: 0, count: dimension)
    switch structure {
    case .pairs(let states, let actions):
      guard let value = observation.first, value.isFinite, value == value.rounded() else {
        return nil
      }
      let s = Int(value) - Int(stateStart)
      guard s >= 0, s < states else { return nil }
      let pair = s * actions + a
      if let table {
        for i in 0..<dimension { psi[i] = table[pair * dimension + i] }
      } else {
        psi[pair] = 1
      }
    case .actionBlocks(_, let m):
      let phi = stateFeatures(observation, rows: 1)
      for j in 0..<m { psi[a * m + j] = phi.storage[j] }
    }
    return psi
  }
}
