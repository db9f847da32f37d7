internal import CBLAS

/// The one place that knows the CBLAS/LAPACKE C conventions. Every BLAS or LAPACK call in
/// mtfqi goes through here:
///
/// - storage is column-major (`CblasColMajor`, `LAPACK_COL_MAJOR`) with leading dimension
///   `max(1, rows)`, as LAPACK requires even for empty matrices;
/// - sizes are 32-bit (`blasint`, `lapack_int`): larger dimensions throw `shapeMismatch`;
/// - LAPACK `info < 0` (an illegal argument, or NaN found by LAPACKE's input check) becomes
///   `invalidArgument`; `info > 0` is mapped per routine to the error that names its meaning.
///
/// Callers validate shapes and pass matrices they own (copies), so nothing here mutates a
/// value the public caller can observe.
enum LinearAlgebraCalls {
  // MARK: Conventions

  /// A dimension as a 32-bit BLAS/LAPACK size.
  static func size(_ value: Int, _ operation: String) throws(LinearAlgebraError) -> Int32 {
    guard let converted = Int32(exactly: value), converted >= 0 else {
      throw .shapeMismatch(
        operation: operation,
        detail: "dimension \(value) is outside the 32-bit BLAS/LAPACK range 0...\(Int32.max)")
    }
    return converted
  }

  /// The column-major leading dimension of a matrix with `rows` rows: `max(1, rows)`.
  static func leadingDimension(_ rows: Int, _ operation: String) throws(LinearAlgebraError)
    -> Int32
  {
    try size(max(1, rows), operation)
  }

  /// Maps a LAPACK `info`: 0 is success, negative is `invalidArgument`, positive goes through
  /// `positive`, which knows what the routine means by it.
  static func check(
    _ info: Int32, _ operation: String, positive: (Int) -> LinearAlgebraError
  ) throws(LinearAlgebraError) {
    if info < 0 { throw .invalidArgument(operation: operation, info: Int(info)) }
    if info > 0 { throw positive(Int(info)) }
  }

  static func character(_ ascii: Unicode.Scalar) -> CChar { CChar(UInt8(ascii: ascii)) }

  static func cblasTranspose(_ transpose: Transpose) -> CBLAS_TRANSPOSE {
    switch transpose {
    case .none: return CblasNoTrans
    case .transpose: return CblasTrans
    }
  }

  // MARK: Threads

  /// `openblas_get_num_threads`.
  static var blasThreads: Int { Int(mtfqi_blas_get_threads()) }

  /// `openblas_set_num_threads` (process-wide), skipped when the count is already `count`:
  /// OpenBLAS's pthread build (0.3.21) restarts its worker threads in every
  /// `openblas_set_num_threads` call, even one that keeps a single thread, and a restarted
  /// worker spins (sched_yield) for about 0.1 s, undoing `stopIdleBLASThreads`.
  static func setBLASThreads(_ count: Int) {
    let wanted = Int32(clamping: max(1, count))
    guard mtfqi_blas_get_threads() != wanted else { return }
    mtfqi_blas_set_threads(wanted)
  }

  /// Stops OpenBLAS's idle worker threads (`blas_thread_shutdown_`, when this OpenBLAS has it).
  static func stopIdleBLASThreads() {
    mtfqi_blas_stop_idle_threads()
  }

  // MARK: BLAS

  /// `cblas_dgemm`: C = alpha op(A) op(B) + beta C with op(A) m x k, op(B) k x n, C m x n.
  static func dgemm(
    _ operation: String, _ a: Matrix, _ transA: Transpose, _ b: Matrix, _ transB: Transpose,
    m: Int, n: Int, k: Int, alpha: Double, beta: Double, c: inout Matrix
  ) throws(LinearAlgebraError) {
    let m32 = try size(m, operation)
    let n32 = try size(n, operation)
    let k32 = try size(k, operation)
    let lda = try leadingDimension(a.rows, operation)
    let ldb = try leadingDimension(b.rows, operation)
    let ldc = try leadingDimension(c.rows, operation)
    cblas_dgemm(
      CblasColMajor, cblasTranspose(transA), cblasTranspose(transB), m32, n32, k32, alpha,
      a.storage, lda, b.storage, ldb, beta, &c.storage, ldc)
  }

  /// `cblas_dgemv`: y = alpha op(A) x + beta y for A stored rows x columns.
  static func dgemv(
    _ operation: String, _ a: Matrix, _ trans: Transpose, x: [Double], alpha: Double,
    beta: Double, y: inout [Double]
  ) throws(LinearAlgebraError) {
    let m32 = try size(a.rows, operation)
    let n32 = try size(a.columns, operation)
    let lda = try leadingDimension(a.rows, operation)
    cblas_dgemv(
      CblasColMajor, cblasTranspose(trans), m32, n32, alpha, a.storage, lda, x, 1, beta, &y, 1)
  }

  /// `cblas_dsyrk` with uplo = upper, trans = transpose: C = alpha A^T A + beta C on the upper
  /// triangle of the n x n matrix C (A is k x n).
  ///
  /// The strict lower triangle is not touched.
  static func dsyrkUpperTransposed(
    _ operation: String, _ a: Matrix, alpha: Double, beta: Double, c: inout Matrix
  ) throws(LinearAlgebraError) {
    let n32 = try size(a.columns, operation)
    let k32 = try size(a.rows, operation)
    let lda = try leadingDimension(a.rows, operation)
    let ldc = try leadingDimension(c.rows, operation)
    cblas_dsyrk(
      CblasColMajor, CblasUpper, CblasTrans, n32, k32, alpha, a.storage, lda, beta, &c.storage, ldc)
  }

  // MARK: LAPACK

  /// `LAPACKE_dpotrf` (uplo "U"): A = U^T U in place, reading only the upper triangle.
  ///
  /// `info > 0` throws `notPositiveDefinite(leadingMinor: info)`.
  static func dpotrfUpper(_ operation: String, _ a: inout Matrix) throws(LinearAlgebraError) {
    let n32 = try size(a.columns, operation)
    let lda = try leadingDimension(a.rows, operation)
    let info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, character("U"), n32, &a.storage, lda)
    try check(info, operation) { .notPositiveDefinite(operation: operation, leadingMinor: $0) }
  }

  /// `LAPACKE_dpotrs` (uplo "U"): solves U^T U X = B in place in `b` with the factor of
  /// `dpotrfUpper`.
  ///
  /// It has no `info > 0`.
  static func dpotrsUpper(_ operation: String, factor: Matrix, _ b: inout Matrix)
    throws(LinearAlgebraError)
  {
    let n32 = try size(factor.columns, operation)
    let nrhs = try size(b.columns, operation)
    let lda = try leadingDimension(factor.rows, operation)
    let ldb = try leadingDimension(b.rows, operation)
    let info = LAPACKE_dpotrs(
      LAPACK_COL_MAJOR, character("U"), n32, nrhs, factor.storage, lda, &b.storage, ldb)
    try check(info, operation) { .invalidArgument(operation: operation, info: $0) }
  }

  /// `LAPACKE_dposv` (uplo "U") on one column-major n x n system stored at `a` (leading
  /// dimension n, only the upper triangle read, overwritten by the Cholesky factor) with one
  /// right-hand side at `b` (overwritten by the solution). Pointers, not matrices: the batched
  /// solver keeps its systems back to back in one buffer and allocates nothing per system, so
  /// `operation` is only built when the call fails.
  ///
  /// `info > 0` throws `notPositiveDefinite(leadingMinor: info)`.
  static func dposvUpper(
    _ operation: @autoclosure () -> String, order n32: Int32, _ a: UnsafeMutablePointer<Double>,
    _ b: UnsafeMutablePointer<Double>
  ) throws(LinearAlgebraError) {
    let leading = max(1, n32)
    let info = LAPACKE_dposv(LAPACK_COL_MAJOR, character("U"), n32, 1, a, leading, b, leading)
    if info != 0 {
      let name = operation()
      try check(info, name) { .notPositiveDefinite(operation: name, leadingMinor: $0) }
    }
  }

  /// `LAPACKE_dgesv`: LU with partial pivoting of A in place, then X overwrites B.
  ///
  /// `info > 0` throws `singular(pivot: info)`.
  static func dgesv(_ operation: String, _ a: inout Matrix, _ b: inout Matrix)
    throws(LinearAlgebraError)
  {
    let n32 = try size(a.columns, operation)
    let nrhs = try size(b.columns, operation)
    let lda = try leadingDimension(a.rows, operation)
    let ldb = try leadingDimension(b.rows, operation)
    var pivots = [Int32](repeating: 0, count: max(1, a.columns))
    let info = LAPACKE_dgesv(LAPACK_COL_MAJOR, n32, nrhs, &a.storage, lda, &pivots, &b.storage, ldb)
    try check(info, operation) { .singular(operation: operation, pivot: $0) }
  }

  /// `LAPACKE_dsyevd` (jobz "V", uplo "U"): eigenvalues ascending into `values`, eigenvectors
  /// overwrite `a` as columns.
  ///
  /// `info > 0` throws `noConvergence`.
  static func dsyevdUpper(_ operation: String, _ a: inout Matrix, values: inout [Double])
    throws(LinearAlgebraError)
  {
    let n32 = try size(a.columns, operation)
    let lda = try leadingDimension(a.rows, operation)
    let info = LAPACKE_dsyevd(
      LAPACK_COL_MAJOR, character("V"), character("U"), n32, &a.storage, lda, &values)
    try check(info, operation) { .noConvergence(operation: operation, info: $0) }
  }

  /// `LAPACKE_dgesdd` (jobz "S"): thin SVD of the m x n matrix `a` (destroyed), singular values
  /// descending into `s` (r = min(m, n)), U m x r, Vt r x n.
  ///
  /// `info > 0` throws `noConvergence`.
  static func dgesddThin(
    _ operation: String, _ a: inout Matrix, s: inout [Double], u: inout Matrix, vt: inout Matrix
  ) throws(LinearAlgebraError) {
    let m32 = try size(a.rows, operation)
    let n32 = try size(a.columns, operation)
    let lda = try leadingDimension(a.rows, operation)
    let ldu = try leadingDimension(u.rows, operation)
    let ldvt = try leadingDimension(vt.rows, operation)
    let info = LAPACKE_dgesdd(
      LAPACK_COL_MAJOR, character("S"), m32, n32, &a.storage, lda, &s, &u.storage, ldu,
      &vt.storage, ldvt)
    try check(info, operation) { .noConvergence(operation: operation, info: $0) }
  }

  /// `LAPACKE_dgeqrf`: Householder QR of `a` in place; `tau` has min(m, n) entries.
  ///
  /// It has no `info > 0`.
  static func dgeqrf(_ operation: String, _ a: inout Matrix, tau: inout [Double])
    throws(LinearAlgebraError)
  {
    let m32 = try size(a.rows, operation)
    let n32 = try size(a.columns, operation)
    let lda = try leadingDimension(a.rows, operation)
    let info = LAPACKE_dgeqrf(LAPACK_COL_MAJOR, m32, n32, &a.storage, lda, &tau)
    try check(info, operation) { .invalidArgument(operation: operation, info: $0) }
  }

  /// `LAPACKE_dorgqr`: overwrites the m x n output of `dgeqrf` with the first n columns of Q.
  ///
  /// It has no `info > 0`.
  static func dorgqr(_ operation: String, _ a: inout Matrix, tau: [Double])
    throws(LinearAlgebraError)
  {
    let m32 = try size(a.rows, operation)
    let n32 = try size(a.columns, operation)
    let k32 = try size(tau.count, operation)
    let lda = try leadingDimension(a.rows, operation)
    let info = LAPACKE_dorgqr(LAPACK_COL_MAJOR, m32, n32, k32, &a.storage, lda, tau)
    try check(info, operation) { .invalidArgument(operation: operation, info: $0) }
  }

  /// `LAPACKE_dgelsd`: minimum-norm least squares by SVD (divide and conquer).
  ///
  /// `a` (m x n) is destroyed; `b` must have max(m, n) rows: its first m rows hold B on entry and
  /// its first n rows hold X on exit. Singular values s_i <= rcond * s_1 count as zero (rcond < 0
  /// means machine precision). Returns the effective rank. `info > 0` throws `noConvergence`.
  static func dgelsd(
    _ operation: String, _ a: inout Matrix, _ b: inout Matrix, singularValues: inout [Double],
    rcond: Double
  ) throws(LinearAlgebraError) -> Int {
    let m32 = try size(a.rows, operation)
    let n32 = try size(a.columns, operation)
    let nrhs = try size(b.columns, operation)
    let lda = try leadingDimension(a.rows, operation)
    let ldb = try leadingDimension(b.rows, operation)
    var rank: Int32 = 0
    let info = LAPACKE_dgelsd(
      LAPACK_COL_MAJOR, m32, n32, nrhs, &a.storage, lda, &b.storage, ldb, &singularValues, rcond,
      &rank)
    try check(info, operation) { .noConvergence(operation: operation, info: $0) }
    return Int(rank)
  }
}
