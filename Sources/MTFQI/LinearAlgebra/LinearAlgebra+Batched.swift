extension LinearAlgebra {
  /// Solves `count` independent symmetric positive definite systems (M_i + ridge I) x_i = r_i of
  /// order n, stored back to back, by Cholesky (`dposv`, uplo upper), one LAPACK call per system
  /// and no allocation per system.
  ///
  /// Layout: `matrices` holds `count` column-major n x n matrices, matrix i at offset
  /// `i * n * n` (only the upper triangle is read; it is overwritten by the Cholesky factor);
  /// `rightHandSides` holds `count` vectors of n entries, vector i at offset `i * n`, overwritten
  /// by the solutions. `ridge` (finite, >= 0) is added to every diagonal first.
  ///
  /// This is the B-step of rank-k multitask FQI with one-hot features: one k x k system per
  /// feature. Throws `notPositiveDefinite(leadingMinor:)` from the first system (in index order)
  /// whose factorisation fails, with `operation` naming the system index; `invalidArgument` for
  /// a bad ridge; `shapeMismatch` when the buffers do not hold `count` systems. Deterministic.
  public static func batchedRidgeCholeskySolve(
    order n: Int, count: Int, matrices: inout [Double], rightHandSides: inout [Double],
    ridge: Double
  ) throws(LinearAlgebraError) {
    let function = "batchedRidgeCholeskySolve"
    try validateRidge(ridge, function: function)
    guard n >= 0, count >= 0, matrices.count == n * n * count, rightHandSides.count == n * count
    else {
      throw .shapeMismatch(
        operation: function,
        detail:
          "\(count) systems of order \(n) need \(n * n * count) matrix and \(n * count) right-hand-side values, given \(matrices.count) and \(rightHandSides.count)"
      )
    }
    if n == 0 || count == 0 { return }
    let n32 = try LinearAlgebraCalls.size(n, function)
    let square = n * n
    var failure: LinearAlgebraError?
    matrices.withUnsafeMutableBufferPointer { m in
      rightHandSides.withUnsafeMutableBufferPointer { r in
        guard let mBase = m.baseAddress, let rBase = r.baseAddress else { return }
        for index in 0..<count {
          let a = mBase + index * square
          if ridge != 0 {
            for i in 0..<n { a[i + i * n] += ridge }
          }
          do throws(LinearAlgebraError) {
            try LinearAlgebraCalls.dposvUpper(
              "\(function) (dposv), system \(index)", order: n32, a, rBase + index * n)
          } catch {
            failure = error
            return
          }
        }
      }
    }
    if let failure { throw failure }
  }
}
