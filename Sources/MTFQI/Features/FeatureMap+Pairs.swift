extension FeatureMap {
  /// psi at every (state, action) pair of a Discrete observation space: an (S * A) x D
  /// column-major matrix whose row s * A + a is psi(s, a) (the identity for one-hot). Nil when
  /// the observation space is not Discrete.
  public func allPairFeatures() -> Matrix? {
    guard case .discrete(let n, let start) = observationSpace else { return nil }
    let states = Int(n)
    let actions = actionCount
    switch structure {
    case .pairs:
      return pairMatrix() ?? Matrix.identity(states * actions)
    case .actionBlocks(_, let m):
      let observations = (0..<states).map { Double(start + Int64($0)) }
      let phi = stateFeatures(observations, rows: states)
      var result = Matrix(rows: states * actions, columns: dimension)
      for s in 0..<states {
        for a in 0..<actions {
          for j in 0..<m {
            result.storage[(s * actions + a) + (a * m + j) * result.rows] =
              phi.storage[s + j * states]
          }
        }
      }
      return result
    }
  }

  /// Q(s, a) = psi(s, a)^T theta at every pair of a Discrete observation space, row-major
  /// (S, A); nil when the observation space is not Discrete.
  public func qTable(_ theta: [Double]) throws(LinearAlgebraError) -> [Double]? {
    if case .pairs = structure, table == nil, observationSpace.isDiscrete {
      return theta
    }
    guard let features = allPairFeatures() else { return nil }
    return try LinearAlgebra.gemv(features, theta)
  }
}
