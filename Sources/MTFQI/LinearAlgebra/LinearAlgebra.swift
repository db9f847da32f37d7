/// Whether a BLAS operand is used as stored or transposed (`CblasNoTrans` / `CblasTrans`).
public enum Transpose: Sendable {
  case none, transpose
}

/// Dense Float64 linear algebra over OpenBLAS (CBLAS) and LAPACKE.
///
/// Conventions for every function:
/// - Matrices are `Matrix` values in column-major storage; shapes are written rows x columns.
/// - Inputs are never mutated: LAPACK works on copies (value semantics), so a caller keeps its
///   matrices as they were, also when a function throws.
/// - Shapes are checked before any C call; a mismatch throws `shapeMismatch` naming the shapes.
///   Dimensions above `Int32.max` (32-bit BLAS/LAPACK sizes) also throw `shapeMismatch`.
/// - LAPACK `info < 0` throws `invalidArgument`; LAPACKE checks inputs for NaN and reports a
///   NaN-containing matrix that way. BLAS-only functions (`gemm`, `gemv`, `gram`, `syrk`) do not
///   check for NaN: it propagates into the result.
/// - Empty shapes (a dimension of 0) are allowed and give the mathematically obvious empty or
///   zero result without calling C.
/// - Determinism: for a given input, OpenBLAS build, CPU kernel and thread count
///   (`setBLASThreadCount`) results are bitwise reproducible; a different CPU or thread count can
///   change the last bits. Where LAPACK leaves a sign free (eigenvectors, singular vectors, QR),
///   it is fixed by a stated rule, so results do not depend on the LAPACK implementation's
///   choice of sign.
public enum LinearAlgebra {
  // MARK: Threads

  /// The number of threads OpenBLAS uses (`openblas_get_num_threads`); process-wide.
  public static var blasThreadCount: Int { LinearAlgebraCalls.blasThreads }

  /// Sets the number of OpenBLAS threads for the whole process (`openblas_set_num_threads`); values
  /// below 1 mean 1. Setting the count it already has does nothing (OpenBLAS would restart the
  /// workers `useOneBLASThreadForProcess` stopped).
  ///
  /// Use 1 when the caller already runs solves in parallel.
  public static func setBLASThreadCount(_ count: Int) {
    LinearAlgebraCalls.setBLASThreads(count)
  }

  /// For a stage executable whose BLAS runs on one thread (its parallelism is its own, over
  /// tasks): sets one OpenBLAS thread and stops OpenBLAS's worker threads. Workers started at
  /// library load spin (sched_yield) for about 0.1 s before they sleep, taking CPU time from
  /// the process's own threads while it reads its input. OpenBLAS starts them again by itself
  /// if the thread count is raised later and a call wants them.
  ///
  /// Call it first thing in `main`, before any other thread runs BLAS: it joins the workers.
  public static func useOneBLASThreadForProcess() {
    LinearAlgebraCalls.setBLASThreads(1)
    LinearAlgebraCalls.stopIdleBLASThreads()
  }

  // MARK: BLAS

  /// C = alpha * op(A) * op(B) + beta * C (`cblas_dgemm`).
  ///
  /// Returns the new C; `c` is not modified.
  ///
  /// Shapes: op(A) is m x k (A is m x k, or k x m with `.transpose`), op(B) is k x n, C and the
  /// result are m x n. When `c` is nil the result is alpha * op(A) * op(B) and `beta` is
  /// ignored. As in BLAS, beta == 0 ignores the contents of `c` (a NaN there does not
  /// propagate). When k == 0 the result is beta * C (zeros when beta == 0 or `c` is nil).
  /// Throws `shapeMismatch` when the inner dimensions differ or `c` is not m x n.
  public static func gemm(
    _ a: Matrix, _ transA: Transpose = .none, _ b: Matrix, _ transB: Transpose = .none,
    alpha: Double = 1, beta: Double = 0, c: Matrix? = nil
  ) throws(LinearAlgebraError) -> Matrix {
    let operation = "gemm (dgemm)"
    let (m, k) = transA == .none ? (a.rows, a.columns) : (a.columns, a.rows)
    let (kb, n) = transB == .none ? (b.rows, b.columns) : (b.columns, b.rows)
    guard k == kb else {
      throw .shapeMismatch(
        operation: operation,
        detail:
          "op(A) is \(m)x\(k) (\(operandDescription("A", a, transA))) but op(B) is \(kb)x\(n) (\(operandDescription("B", b, transB))): inner dimensions \(k) and \(kb) differ"
      )
    }
    var result: Matrix
    var effectiveBeta = beta
    if let c {
      guard c.rows == m && c.columns == n else {
        throw .shapeMismatch(
          operation: operation,
          detail: "C is \(c.shapeDescription) but op(A) op(B) is \(m)x\(n)")
      }
      result = c
    } else {
      result = Matrix(rows: m, columns: n)
      effectiveBeta = 0
    }
    if m == 0 || n == 0 { return result }
    if k == 0 {
      scale(&result, by: effectiveBeta)
      return result
    }
    try LinearAlgebraCalls.dgemm(
      operation, a, transA, b, transB, m: m, n: n, k: k, alpha: alpha, beta: effectiveBeta,
      c: &result)
    return result
  }

  /// `gemm` with op(A) = A: C = alpha * A * op(B) + beta * C.
  ///
  /// Same contract as `gemm(_:_:_:_:alpha:beta:c:)`.
  ///
  /// This overload exists because Swift matches unlabelled arguments by position and never
  /// skips a defaulted one: without it `gemm(a, b)` and `gemm(a, b, .transpose)` would not
  /// compile (b would be taken for `transA`).
  public static func gemm(
    _ a: Matrix, _ b: Matrix, _ transB: Transpose = .none, alpha: Double = 1, beta: Double = 0,
    c: Matrix? = nil
  ) throws(LinearAlgebraError) -> Matrix {
    try gemm(a, Transpose.none, b, transB, alpha: alpha, beta: beta, c: c)
  }

  /// y = op(A) x (`cblas_dgemv`).
  ///
  /// Shapes: A is m x n; with `.none` x has n entries and y has m, with `.transpose` x has m
  /// entries and y has n. An empty inner dimension gives zeros. Throws `shapeMismatch` when
  /// `x.count` does not match.
  public static func gemv(_ a: Matrix, _ trans: Transpose = .none, _ x: [Double])
    throws(LinearAlgebraError) -> [Double]
  {
    let operation = "gemv (dgemv)"
    let (outputCount, inputCount) = trans == .none ? (a.rows, a.columns) : (a.columns, a.rows)
    guard x.count == inputCount else {
      throw .shapeMismatch(
        operation: operation,
        detail:
          "op(A) is \(outputCount)x\(inputCount) (\(operandDescription("A", a, trans))) but x has \(x.count) entries"
      )
    }
    var y = [Double](repeating: 0, count: outputCount)
    if outputCount == 0 || inputCount == 0 { return y }
    try LinearAlgebraCalls.dgemv(operation, a, trans, x: x, alpha: 1, beta: 0, y: &y)
    return y
  }

  /// y = A x (`cblas_dgemv`); the same contract as `gemv(_:_:_:)` with `.none`.
  ///
  /// Exists so that `gemv(a, x)` compiles (unlabelled arguments never skip a defaulted one).
  public static func gemv(_ a: Matrix, _ x: [Double]) throws(LinearAlgebraError) -> [Double] {
    try gemv(a, Transpose.none, x)
  }

  /// The Gram matrix A^T A (`cblas_dsyrk`, upper triangle, then mirrored), n x n for A m x n, fully
  /// symmetric (exactly: the lower triangle is a copy of the upper).
  ///
  /// For m == 0 the result is the n x n zero matrix.
  ///
  /// Traps if a dimension exceeds `Int32.max` (this function does not throw; use `syrk` to get
  /// `shapeMismatch` instead).
  public static func gram(_ a: Matrix) -> Matrix {
    do {
      return try gram(a, operation: "gram (dsyrk)")
    } catch {
      preconditionFailure("\(error)")
    }
  }

  /// C = alpha * A^T A + beta * C in place on a symmetric n x n accumulator, for A m x n
  /// (`cblas_dsyrk`, uplo upper, trans transpose), then the upper triangle is mirrored so `c` is
  /// fully symmetric again.
  ///
  /// With beta == 1 this accumulates C += alpha A^T A over batches of rows.
  ///
  /// Only the upper triangle of `c` is read (a non-symmetric `c` is treated as its upper
  /// triangle mirrored). Throws `shapeMismatch` when `c` is not n x n. For hot loops with many
  /// small batches, `syrkUpper` + one `symmetrizeFromUpperTriangle` at the end saves the
  /// O(n^2) mirror per call.
  public static func syrk(_ a: Matrix, alpha: Double, into c: inout Matrix, beta: Double)
    throws(LinearAlgebraError)
  {
    try syrkUpper(a, alpha: alpha, into: &c, beta: beta, operation: "syrk (dsyrk)")
    symmetrizeFromUpperTriangle(&c)
  }

  /// Like `syrk`, but updates only the upper triangle of `c` (including the diagonal); the strict
  /// lower triangle is left as it was.
  ///
  /// Call `symmetrizeFromUpperTriangle` before using `c` as a full matrix.
  public static func syrkUpper(_ a: Matrix, alpha: Double, into c: inout Matrix, beta: Double)
    throws(LinearAlgebraError)
  {
    try syrkUpper(a, alpha: alpha, into: &c, beta: beta, operation: "syrkUpper (dsyrk)")
  }

  /// Copies the upper triangle of the square matrix `c` onto its lower triangle, making it exactly
  /// symmetric.
  ///
  /// Precondition: `c` is square.
  public static func symmetrizeFromUpperTriangle(_ c: inout Matrix) {
    precondition(
      c.rows == c.columns, "symmetrizeFromUpperTriangle: \(c.shapeDescription) is not square")
    let n = c.rows
    for j in 0..<n {
      for i in (j + 1)..<n {
        c.storage[i + j * n] = c.storage[j + i * n]
      }
    }
  }

  // MARK: Linear systems

  /// Solves A X = B for symmetric positive definite A by Cholesky (`dpotrf` + `dpotrs`, uplo
  /// upper).
  ///
  /// Shapes: A is n x n, B is n x k, X is n x k. Only the upper triangle of A is read (A is
  /// assumed symmetric; the lower triangle is ignored, not checked).
  /// Throws `notPositiveDefinite(leadingMinor: info)` when `dpotrf` returns info > 0 (the
  /// leading minor of that order, 1-based, is not positive: A is indefinite, semidefinite
  /// or numerically singular); `shapeMismatch` when A is not square or B has not n rows.
  /// Deterministic; no pivoting.
  public static func choleskySolve(_ a: Matrix, _ b: Matrix) throws(LinearAlgebraError) -> Matrix {
    try choleskySolve(a, b, function: "choleskySolve")
  }

  /// Solves (A + ridge * I) X = B by Cholesky; the same contract as `choleskySolve`
  /// (shapes, upper triangle read, `notPositiveDefinite` from `dpotrf` info > 0).
  ///
  /// `ridge` must be finite and >= 0, else `invalidArgument(info: -3)` (argument 3, in LAPACK's
  /// convention). A ridge > 0 makes a positive semidefinite A definite in exact arithmetic; a
  /// ridge far below the rounding error of A's largest entries may still give
  /// `notPositiveDefinite`.
  public static func ridgeSolve(_ a: Matrix, _ b: Matrix, ridge: Double)
    throws(LinearAlgebraError) -> Matrix
  {
    let function = "ridgeSolve"
    try validateRidge(ridge, function: function)
    var shifted = a
    if shifted.rows == shifted.columns {
      let n = shifted.rows
      for i in 0..<n { shifted.storage[i + i * n] += ridge }
    }
    return try choleskySolve(shifted, b, function: function)
  }

  /// Solves the general square system A X = B by LU with partial pivoting (`dgesv`).
  ///
  /// Shapes: A is n x n, B is n x k, X is n x k. Throws `singular(pivot: info)` when `dgesv`
  /// returns info > 0: U(info, info) (1-based) is exactly zero. A nearly singular A whose pivots
  /// are tiny but non-zero does not throw: its solution is just ill-conditioned.
  /// Throws `shapeMismatch` when A is not square or B has not n rows. Deterministic.
  public static func solve(_ a: Matrix, _ b: Matrix) throws(LinearAlgebraError) -> Matrix {
    let operation = "solve (dgesv)"
    try requireSquare(a, operation: operation)
    try requireRows(b, a.rows, name: "B", against: "A", a, operation: operation)
    if a.rows == 0 { return b }
    var factors = a
    var solution = b
    try LinearAlgebraCalls.dgesv(operation, &factors, &solution)
    return solution
  }

  // MARK: Decompositions

  /// Symmetric eigendecomposition A = V diag(values) V^T (`dsyevd`, jobz "V", uplo upper).
  ///
  /// Shapes: A is n x n; `values` has n entries in ASCENDING order; `vectors` is n x n with the
  /// orthonormal eigenvector for `values[j]` in column j. Only the upper triangle of A is read.
  /// Sign rule: each eigenvector's entry of largest magnitude (the first such on a tie) is
  /// positive. For repeated eigenvalues the basis of the eigenspace is whatever LAPACK returns.
  /// Throws `noConvergence` when `dsyevd` returns info > 0; `shapeMismatch` when A is not square.
  public static func symmetricEigen(_ a: Matrix) throws(LinearAlgebraError) -> (
    values: [Double], vectors: Matrix
  ) {
    let operation = "symmetricEigen (dsyevd)"
    try requireSquare(a, operation: operation)
    let n = a.rows
    if n == 0 { return ([], Matrix(rows: 0, columns: 0)) }
    var vectors = a
    var values = [Double](repeating: 0, count: n)
    try LinearAlgebraCalls.dsyevdUpper(operation, &vectors, values: &values)
    for j in 0..<n {
      if columnNeedsFlip(vectors, j) { negateColumn(&vectors, j) }
    }
    return (values, vectors)
  }

  /// Thin singular value decomposition A = U diag(s) Vt (`dgesdd`, jobz "S").
  ///
  /// Shapes: A is m x n, r = min(m, n); U is m x r with orthonormal columns, `s` has r entries
  /// in DESCENDING order (all >= 0), Vt is r x n with orthonormal rows. Rank-deficient A is
  /// fine: the trailing singular values are (numerically) zero and their singular vectors span
  /// the complementary spaces. Sign rule: for each i the entry of largest magnitude in column i
  /// of U (the first such on a tie) is positive, and row i of Vt is flipped with it.
  /// Throws `noConvergence` when `dgesdd` returns info > 0.
  public static func svd(_ a: Matrix) throws(LinearAlgebraError) -> (
    u: Matrix, s: [Double], vt: Matrix
  ) {
    let operation = "svd (dgesdd)"
    let m = a.rows
    let n = a.columns
    let r = min(m, n)
    if r == 0 { return (Matrix(rows: m, columns: 0), [], Matrix(rows: 0, columns: n)) }
    var work = a
    var s = [Double](repeating: 0, count: r)
    var u = Matrix(rows: m, columns: r)
    var vt = Matrix(rows: r, columns: n)
    try LinearAlgebraCalls.dgesddThin(operation, &work, s: &s, u: &u, vt: &vt)
    for i in 0..<r where columnNeedsFlip(u, i) {
      negateColumn(&u, i)
      for j in 0..<n { vt.storage[i + j * r] = -vt.storage[i + j * r] }
    }
    return (u, s, vt)
  }

  /// Thin QR decomposition A = Q R (`dgeqrf` + `dorgqr`).
  ///
  /// Shapes: A is m x n with m >= n (else `shapeMismatch`); Q is m x n with orthonormal
  /// columns; R is n x n upper triangular. Sign rule: diag(R) >= 0 (row j of R and column j of
  /// Q are negated together when R(j, j) < 0), which makes the factorisation unique for full
  /// column rank A. Rank-deficient A does not throw: R has (near-)zero diagonal entries and Q
  /// is still orthonormal, but then Q's columns need not span range(A) only; use
  /// `orthonormalBasis` for a rank-revealing basis. QR has no info > 0.
  public static func qr(_ a: Matrix) throws(LinearAlgebraError) -> (q: Matrix, r: Matrix) {
    let operation = "qr (dgeqrf)"
    let m = a.rows
    let n = a.columns
    guard m >= n else {
      throw .shapeMismatch(
        operation: operation,
        detail: "thin QR needs rows >= columns, A is \(a.shapeDescription)")
    }
    if n == 0 { return (Matrix(rows: m, columns: 0), Matrix(rows: 0, columns: 0)) }
    var factors = a
    var tau = [Double](repeating: 0, count: n)
    try LinearAlgebraCalls.dgeqrf(operation, &factors, tau: &tau)
    var r = Matrix(rows: n, columns: n)
    for j in 0..<n {
      for i in 0...j { r.storage[i + j * n] = factors.storage[i + j * m] }
    }
    try LinearAlgebraCalls.dorgqr("qr (dorgqr)", &factors, tau: tau)
    var q = factors
    for j in 0..<n where r.storage[j + j * n] < 0 {
      negateColumn(&q, j)
      for k in j..<n { r.storage[j + k * n] = -r.storage[j + k * n] }
    }
    return (q, r)
  }

  /// An orthonormal basis of the column span of A, from the thin SVD (`dgesdd`): the columns
  /// of U whose singular values exceed `max(m, n) * ulpOfOne * s_max`.
  ///
  /// Shapes: A is m x n; the result is m x rank (rank 0 for a zero or empty A). Rank-revealing,
  /// unlike `qr`. Signs follow `svd`'s rule. Throws `noConvergence` from `dgesdd` info > 0.
  public static func orthonormalBasis(_ a: Matrix) throws(LinearAlgebraError) -> Matrix {
    let (u, s, _) = try svd(a)
    guard let largest = s.first else { return Matrix(rows: a.rows, columns: 0) }
    let cutoff = Double(max(a.rows, a.columns)) * Double.ulpOfOne * largest
    let rank = s.prefix { $0 > cutoff }.count
    return u.columns(0..<rank)
  }

  // MARK: Least squares

  /// Least squares X = argmin ||A X - B||_F^2 + ridge ||X||_F^2, column by column.
  ///
  /// Shapes: A is m x n, B is m x k, X is n x k. Any m and n (over- or underdetermined).
  /// - ridge > 0: normal equations (A^T A + ridge I) X = A^T B by `gram`, `gemm` and Cholesky
  ///   (`dpotrf`/`dpotrs`). Throws `notPositiveDefinite` only if the ridge is lost to rounding
  ///   (see `ridgeSolve`). Squares the condition number: fine for ridge-regularised FQI.
  /// - ridge == 0: `dgelsd` (SVD based): the minimum-norm solution, safe for rank-deficient
  ///   and underdetermined A; singular values below `max(m, n) * ulpOfOne * s_max` count as zero
  ///   (see `minimumNormLeastSquares` for the rank and a different cutoff). Throws
  ///   `noConvergence` when `dgelsd` returns info > 0.
  /// `ridge` must be finite and >= 0, else `invalidArgument(info: -3)`; `shapeMismatch` when B
  /// has not m rows. Deterministic.
  public static func leastSquares(_ a: Matrix, _ b: Matrix, ridge: Double = 0)
    throws(LinearAlgebraError) -> Matrix
  {
    let function = "leastSquares"
    try validateRidge(ridge, function: function)
    try requireRows(b, a.rows, name: "B", against: "A", a, operation: function)
    if ridge == 0 {
      return try minimumNormLeastSquares(a, b).solution
    }
    var normal = try gram(a, operation: "\(function) (dsyrk)")
    let n = a.columns
    for i in 0..<n { normal.storage[i + i * n] += ridge }
    let rhs = try gemm(a, .transpose, b)
    return try choleskySolve(normal, rhs, function: function)
  }

  /// Minimum-norm least squares X = argmin ||A X - B||_F with the smallest ||X||_F among all
  /// minimisers (`dgelsd`, SVD by divide and conquer).
  ///
  /// Shapes: A is m x n, B is m x k; `solution` is n x k, `singularValues` has min(m, n)
  /// entries, descending. Singular values s_i <= `relativeCutoff` * s_1 count as zero; `rank` is
  /// the number that do not. The default cutoff is `max(m, n) * ulpOfOne`; a negative cutoff
  /// means machine precision (LAPACK's rcond < 0). A non-finite cutoff throws
  /// `invalidArgument(info: -3)`. Throws `noConvergence` when `dgelsd` returns info > 0 and
  /// `shapeMismatch` when B has not m rows. An empty A gives the zero solution and rank 0.
  public static func minimumNormLeastSquares(
    _ a: Matrix, _ b: Matrix, relativeCutoff: Double? = nil
  ) throws(LinearAlgebraError) -> (solution: Matrix, rank: Int, singularValues: [Double]) {
    let operation = "minimumNormLeastSquares (dgelsd)"
    try requireRows(b, a.rows, name: "B", against: "A", a, operation: operation)
    let m = a.rows
    let n = a.columns
    let k = b.columns
    let cutoff = relativeCutoff ?? Double(max(m, n)) * Double.ulpOfOne
    guard cutoff.isFinite else { throw .invalidArgument(operation: operation, info: -3) }
    if m == 0 || n == 0 {
      return (Matrix(rows: n, columns: k), 0, [])
    }
    // dgelsd reads B from, and writes X to, one max(m, n) x k array.
    let height = max(m, n)
    var rightHandSide = Matrix(rows: height, columns: k)
    for j in 0..<k {
      for i in 0..<m { rightHandSide.storage[i + j * height] = b.storage[i + j * m] }
    }
    var work = a
    var singularValues = [Double](repeating: 0, count: min(m, n))
    let rank = try LinearAlgebraCalls.dgelsd(
      operation, &work, &rightHandSide, singularValues: &singularValues, rcond: cutoff)
    var solution = Matrix(rows: n, columns: k)
    for j in 0..<k {
      for i in 0..<n { solution.storage[i + j * n] = rightHandSide.storage[i + j * height] }
    }
    return (solution, rank, singularValues)
  }

  // MARK: Subspaces

  /// The sine of the largest principal angle between the column spans of A and B, in [0, 1]:
  /// 0 for the same span, 1 when some direction of one is orthogonal to the other.
  ///
  /// Shapes: A is m x p, B is m x q (same m, else `shapeMismatch`). Both spans are
  /// orthonormalised rank-revealingly (`orthonormalBasis`, SVD). With ranks ra <= rb and bases
  /// Qa, Qb there are ra principal angles; the largest sine is the largest singular value of
  /// (I - Qb Qb^T) Qa (Björck and Golub, 1973). This equals sqrt(1 - sigma_min(Qa^T Qb)^2) but
  /// keeps full relative accuracy for small angles, where the cosine formula loses half the
  /// digits (identical spans would give ~1e-8 instead of ~1e-16). The result is clamped to
  /// [0, 1].
  /// With unequal ranks, a smaller span contained in a larger one has distance 0. A span of
  /// rank 0 (zero or empty matrix) has distance 1 from any non-zero span and 0 from another
  /// rank-0 span (the spectral norm of the difference of the orthogonal projectors), so that a
  /// degenerate fit never looks like a perfect match.
  /// Throws `noConvergence` from `dgesdd`. Deterministic.
  public static func subspaceDistance(_ a: Matrix, _ b: Matrix) throws(LinearAlgebraError)
    -> Double
  {
    let operation = "subspaceDistance"
    guard a.rows == b.rows else {
      throw .shapeMismatch(
        operation: operation,
        detail:
          "A is \(a.shapeDescription) and B is \(b.shapeDescription): the spans must live in the same space (equal rows)"
      )
    }
    let basisA = try orthonormalBasis(a)
    let basisB = try orthonormalBasis(b)
    switch (basisA.columns, basisB.columns) {
    case (0, 0): return 0
    case (0, _), (_, 0): return 1
    default: break
    }
    let (smaller, larger) =
      basisA.columns <= basisB.columns ? (basisA, basisB) : (basisB, basisA)
    let coefficients = try gemm(larger, .transpose, smaller)
    let residual = try gemm(larger, coefficients, alpha: -1, beta: 1, c: smaller)
    let largestSine = try svd(residual).s.first ?? 0
    return min(1, max(0, largestSine))
  }

  // MARK: Helpers

  static func choleskySolve(_ a: Matrix, _ b: Matrix, function: String)
    throws(LinearAlgebraError) -> Matrix
  {
    let operation = "\(function) (dpotrf)"
    try requireSquare(a, operation: operation)
    try requireRows(b, a.rows, name: "B", against: "A", a, operation: operation)
    if a.rows == 0 { return b }
    var factor = a
    try LinearAlgebraCalls.dpotrfUpper(operation, &factor)
    var solution = b
    if b.columns == 0 { return solution }
    try LinearAlgebraCalls.dpotrsUpper("\(function) (dpotrs)", factor: factor, &solution)
    return solution
  }

  static func gram(_ a: Matrix, operation: String) throws(LinearAlgebraError) -> Matrix {
    var c = Matrix(rows: a.columns, columns: a.columns)
    try syrkUpper(a, alpha: 1, into: &c, beta: 0, operation: operation)
    symmetrizeFromUpperTriangle(&c)
    return c
  }

  static func syrkUpper(
    _ a: Matrix, alpha: Double, into c: inout Matrix, beta: Double, operation: String
  ) throws(LinearAlgebraError) {
    let n = a.columns
    guard c.rows == n && c.columns == n else {
      throw .shapeMismatch(
        operation: operation,
        detail: "A is \(a.shapeDescription), so C must be \(n)x\(n), but C is \(c.shapeDescription)"
      )
    }
    if n == 0 { return }
    if a.rows == 0 {
      // alpha A^T A is zero: C = beta C on the upper triangle, as dsyrk would do.
      for j in 0..<n {
        for i in 0...j { c.storage[i + j * n] = beta == 0 ? 0 : beta * c.storage[i + j * n] }
      }
      return
    }
    try LinearAlgebraCalls.dsyrkUpperTransposed(operation, a, alpha: alpha, beta: beta, c: &c)
  }

  static func validateRidge(_ ridge: Double, function: String) throws(LinearAlgebraError) {
    guard ridge.isFinite && ridge >= 0 else {
      throw .invalidArgument(operation: function, info: -3)
    }
  }

  static func requireSquare(_ a: Matrix, operation: String) throws(LinearAlgebraError) {
    guard a.rows == a.columns else {
      throw .shapeMismatch(
        operation: operation, detail: "A must be square, but it is \(a.shapeDescription)")
    }
  }

  static func requireRows(
    _ b: Matrix, _ rows: Int, name: String, against otherName: String, _ other: Matrix,
    operation: String
  ) throws(LinearAlgebraError) {
    guard b.rows == rows else {
      throw .shapeMismatch(
        operation: operation,
        detail:
          "\(otherName) is \(other.shapeDescription), so \(name) must have \(rows) rows, but \(name) is \(b.shapeDescription)"
      )
    }
  }

  static func operandDescription(_ name: String, _ matrix: Matrix, _ transpose: Transpose)
    -> String
  {
    switch transpose {
    case .none: return "\(name) \(matrix.shapeDescription)"
    case .transpose: return "\(name)^T, \(name) \(matrix.shapeDescription)"
    }
  }

  /// Scales every element by `factor`; factor 0 sets exact zeros (BLAS beta == 0 semantics).
  static func scale(_ matrix: inout Matrix, by factor: Double) {
    for index in matrix.storage.indices {
      matrix.storage[index] = factor == 0 ? 0 : factor * matrix.storage[index]
    }
  }

  /// True when the entry of largest magnitude in column j (the first such) is negative.
  static func columnNeedsFlip(_ matrix: Matrix, _ j: Int) -> Bool {
    let rows = matrix.rows
    var best = 0.0
    var bestMagnitude = -1.0
    for i in 0..<rows {
      let value = matrix.storage[i + j * rows]
      if value.magnitude > bestMagnitude {
        bestMagnitude = value.magnitude
        best = value
      }
    }
    return best < 0
  }

  static func negateColumn(_ matrix: inout Matrix, _ j: Int) {
    let rows = matrix.rows
    for i in 0..<rows { matrix.storage[i + j * rows] = -matrix.storage[i + j * rows] }
  }
}
