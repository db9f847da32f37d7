import Foundation

/// The frozen features of one task's transitions: what `mtfqi-fit` regresses on, and what
/// `mtfqi-export --store` writes so that a head can be fitted with numpy alone.
///
/// Shapes (row-major, the HDF5 layout): `phi` (N, k) with phi[i] = B^T psi(s_i, a_i);
/// `phiNext` (N, A, k) with phiNext[i, a'] = B^T psi(s'_i, a') for every action a' (in the
/// order of the action space, `start` first). Rows whose next observation does not exist or
/// lies outside the observation space (possible only on terminal rows, which never bootstrap)
/// get phiNext = 0. `rewards`, `terminations` and `steps` are the task's columns, in store row
/// order.
public struct MaterializedFeatures: Sendable {
  public var task: String
  public var rows: Int
  public var actions: Int
  public var rank: Int
  public var phi: [Double]
  public var phiNext: [Double]
  public var rewards: [Double]
  public var terminations: [UInt8]
  public var steps: [Int64]

  /// phi-hat for every row of `task` under `map` and `b` (D x k).
  ///
  /// Pair maps (one-hot, table): the (S * A) x k table Psi B is computed once (`gemm`) and
  /// indexed. Block maps (raw, fourier): phi(s) (n x m) is computed once for the current and
  /// once for the next observations, then multiplied by each action's m x k block of B
  /// (`gemm`). Deterministic for a given OpenBLAS build and thread count.
  public static func compute(_ task: TaskTransitions, map: FeatureMap, b: Matrix)
    throws(LinearAlgebraError) -> MaterializedFeatures
  {
    let n = task.count
    let k = b.columns
    let actions = map.actionCount
    var phi = [Double](repeating: 0, count: n * k)
    var phiNext = [Double](repeating: 0, count: n * actions * k)
    let actionStart = map.actionStart
    switch map.structure {
    case .pairs(let states, _):
      guard let table = try ExportedRepresentation.allPairFeatures(map, b) else {
        preconditionFailure("pair feature maps have a Discrete observation space")
      }
      let stateStart = Double(map.stateStart)
      for i in 0..<n {
        let s = Int(task.observations[i] - stateStart)
        let a = Int(task.actions[i] - actionStart)
        let pair = s * actions + a
        for j in 0..<k { phi[i * k + j] = table.storage[pair + j * table.rows] }
        let next = task.nextObservations[i] - stateStart
        guard next.isFinite, next >= 0, next < Double(states), next == next.rounded() else {
          continue
        }
        let sn = Int(next)
        for a2 in 0..<actions {
          let pair2 = sn * actions + a2
          for j in 0..<k {
            phiNext[(i * actions + a2) * k + j] = table.storage[pair2 + j * table.rows]
          }
        }
      }
    case .actionBlocks(_, let m):
      let current = map.stateFeatures(task.observations, rows: n)
      let next = map.stateFeatures(task.nextObservations, rows: n)
      for a in 0..<actions {
        let block = b.rows((a * m)..<((a + 1) * m))
        let onCurrent = try LinearAlgebra.gemm(current, block)
        let onNext = try LinearAlgebra.gemm(next, block)
        for i in 0..<n {
          for j in 0..<k { phiNext[(i * actions + a) * k + j] = onNext.storage[i + j * n] }
          if Int(task.actions[i] - actionStart) == a {
            for j in 0..<k { phi[i * k + j] = onCurrent.storage[i + j * n] }
          }
        }
      }
    }
    return MaterializedFeatures(
      task: task.name, rows: n, actions: actions, rank: k, phi: phi, phiNext: phiNext,
      rewards: task.rewards, terminations: task.terminations, steps: task.steps)
  }

  /// The sha256 of the feature bytes (phi then phiNext, little-endian float64): the same
  /// digest in representation.h5 and head.h5 shows that both used the same features.
  public var digest: String {
    var hasher = SHA256Digest()
    phi.withUnsafeBytes { hasher.update($0) }
    phiNext.withUnsafeBytes { hasher.update($0) }
    return hasher.hexDigest()
  }

  /// Writes the group `/materialized/<task>` (schemas/representation.md).
  func write(to group: HDF5Group, step: Int, gamma: Double, storePath: String, storeSHA256: String)
    throws(HDF5Error)
  {
    try group.setAttribute("store_path", storePath)
    try group.setAttribute("store_sha256", storeSHA256)
    try group.setAttribute("task", task)
    try group.setAttribute("step", Int64(step))
    try group.setAttribute("gamma", gamma)
    try group.setAttribute("n_transitions", Int64(rows))
    try group.setAttribute("feature_sha256", digest)
    try group.writeDataset("phi", phi, shape: [rows, rank])
    try group.writeDataset("phi_next", phiNext, shape: [rows, actions, rank])
    try group.writeDataset("rewards", rewards, shape: [rows])
    try group.writeDataset("terminations", terminations, shape: [rows])
    try group.writeDataset("step", steps, shape: [rows])
  }

  /// Reads a group written by `write`.
  static func read(_ group: HDF5Group) throws -> MaterializedFeatures {
    let phiSet = try group.dataset("phi")
    let nextSet = try group.dataset("phi_next")
    let shape = nextSet.shape
    guard shape.count == 3, phiSet.shape == [shape[0], shape[2]] else {
      throw FQIError.input(
        "\(group.file.path): \(group.path): phi \(phiSet.shape) and phi_next \(shape) do not match")
    }
    return MaterializedFeatures(
      task: try group.stringAttribute("task"), rows: shape[0], actions: shape[1], rank: shape[2],
      phi: try phiSet.read(as: Double.self), phiNext: try nextSet.read(as: Double.self),
      rewards: try group.dataset("rewards").read(as: Double.self),
      terminations: try group.dataset("terminations").read(as: UInt8.self),
      steps: try group.dataset("step").read(as: Int64.self))
  }
}
