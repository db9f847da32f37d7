/// The dense B-step of one Gram block by preconditioned conjugate gradients, matrix-free.
///
/// Solves, for X (m x k, column-major),
///
///     sum_p G_p X (w_p w_p^T) + ridge X = R        (the (m k) x (m k) system in vec form)
///
/// with the Kronecker preconditioner (S (x) G-bar + ridge I)^-1, G-bar = mean_p G_p and
/// S = sum_p w_p w_p^T, applied through the eigendecompositions G-bar = Qg diag(a) Qg^T and
/// S = Qs diag(b) Qs^T: P(R) = Qg [(Qg^T R Qs) ./ (a_i b_j + ridge)] Qs^T. When every task sees
/// the same state-action distribution the G_p differ only by sampling noise, the preconditioned
/// system is close to the identity and CG converges in a handful of iterations; each one costs
/// O(P m^2 + m^2 k) instead of the O((m k)^3) of a dense Cholesky.
///
/// Converged means the recursive residual fell to `tolerance` times ||R|| and the true residual,
/// recomputed at the end, to 100 times that; otherwise (or when the preconditioner is not
/// positive definite) the result is nil and the caller solves directly. Deterministic.
enum KroneckerCG {
  static func solve(
    grams: [Matrix], w: Matrix, rhs: Matrix, ridge: Double, start: Matrix?,
    tolerance: Double = 1e-14, maxIterations: Int = 100
  ) throws(LinearAlgebraError) -> Matrix? {
    let m = rhs.rows
    let k = rhs.columns
    let count = grams.count
    guard count > 0, m > 0, k > 0 else { return nil }
    var mean = Matrix(rows: m, columns: m)
    for g in grams {
      for i in 0..<(m * m) { mean.storage[i] += g.storage[i] }
    }
    LinearAlgebra.scale(&mean, by: 1 / Double(count))
    let s = try LinearAlgebra.gemm(w, w, .transpose)
    let (a, qg) = try LinearAlgebra.symmetricEigen(mean)
    let (b, qs) = try LinearAlgebra.symmetricEigen(s)
    var denominators = [Double](repeating: 0, count: m * k)
    for j in 0..<k {
      for i in 0..<m {
        let value = a[i] * b[j] + ridge
        guard value > 0 && value.isFinite else { return nil }
        denominators[i + j * m] = value
      }
    }
    func applyPreconditioner(_ r: Matrix) throws(LinearAlgebraError) -> Matrix {
      var inner = try LinearAlgebra.gemm(try LinearAlgebra.gemm(qg, .transpose, r, .none), qs)
      for index in 0..<(m * k) { inner.storage[index] /= denominators[index] }
      return try LinearAlgebra.gemm(try LinearAlgebra.gemm(qg, inner), qs, .transpose)
    }
    func apply(_ x: Matrix) throws(LinearAlgebraError) -> Matrix {
      let v = try LinearAlgebra.gemm(x, w)  // m x P: column p = X w_p
      var u = Matrix(rows: m, columns: count)
      for (p, g) in grams.enumerated() {
        let column = try LinearAlgebra.gemv(g, v.column(p))
        for i in 0..<m { u.storage[i + p * m] = column[i] }
      }
      return try LinearAlgebra.gemm(u, w, .transpose, alpha: 1, beta: ridge, c: x)
    }
    func dot(_ x: Matrix, _ y: Matrix) -> Double {
      var sum = 0.0
      for i in 0..<x.storage.count { sum += x.storage[i] * y.storage[i] }
      return sum
    }
    let rhsNorm = dot(rhs, rhs).squareRoot()
    if rhsNorm == 0 { return Matrix(rows: m, columns: k) }
    var x = start ?? Matrix(rows: m, columns: k)
    var r = rhs
    let ax = try apply(x)
    for i in 0..<(m * k) { r.storage[i] -= ax.storage[i] }
    var z = try applyPreconditioner(r)
    var p = z
    var rz = dot(r, z)
    var converged = dot(r, r).squareRoot() <= tolerance * rhsNorm
    var iteration = 0
    while !converged && iteration < maxIterations {
      iteration += 1
      let q = try apply(p)
      let pq = dot(p, q)
      guard pq > 0 && pq.isFinite else { return nil }
      let alpha = rz / pq
      for i in 0..<(m * k) {
        x.storage[i] += alpha * p.storage[i]
        r.storage[i] -= alpha * q.storage[i]
      }
      converged = dot(r, r).squareRoot() <= tolerance * rhsNorm
      if converged { break }
      z = try applyPreconditioner(r)
      let next = dot(r, z)
      let beta = next / rz
      rz = next
      for i in 0..<(m * k) { p.storage[i] = z.storage[i] + beta * p.storage[i] }
    }
    guard converged else { return nil }
    // The recursive residual can drift from the true one: check it.
    let check = try apply(x)
    var trueResidual = 0.0
    for i in 0..<(m * k) {
      let value = rhs.storage[i] - check.storage[i]
      trueResidual += value * value
    }
    return trueResidual.squareRoot() <= 100 * tolerance * rhsNorm ? x : nil
  }
}
