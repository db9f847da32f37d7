/// A failure at the BLAS/LAPACK boundary.
///
/// `operation` names the public function and, where there is one, the LAPACK/BLAS routine that
/// reported the failure, as `"function (routine)"`, e.g. `"choleskySolve (dpotrf)"` or
/// `"gemm (dgemm)"`. Match errors by case and payload, not by the exact operation text.
public enum LinearAlgebraError: Error, Equatable, CustomStringConvertible {
  /// The operands' shapes do not fit together; `detail` names the shapes involved
  /// (rows x columns). Also thrown when a dimension exceeds the 32-bit BLAS/LAPACK index range.
  case shapeMismatch(operation: String, detail: String)
  /// `dpotrf` returned `info = leadingMinor > 0`: the leading minor of that order (1-based) is
  /// not positive, so the matrix (after any ridge) is not positive definite.
  case notPositiveDefinite(operation: String, leadingMinor: Int)
  /// `dgesv`/`dgetrf` returned `info = pivot > 0`: U(pivot, pivot) (1-based) is exactly zero.
  case singular(operation: String, pivot: Int)
  /// `dsyevd`/`dgesdd`/`dgelsd` returned `info > 0`: the iterative algorithm did not converge.
  case noConvergence(operation: String, info: Int)
  /// `info < 0`: argument number `-info` had an illegal value. LAPACKE also reports NaN in an
  /// input matrix this way (its NaN check), and mtfqi uses the same convention for its own
  /// argument checks (e.g. a negative or non-finite ridge).
  case invalidArgument(operation: String, info: Int)

  public var description: String {
    switch self {
    case .shapeMismatch(let operation, let detail):
      return "\(operation): shape mismatch: \(detail)"
    case .notPositiveDefinite(let operation, let leadingMinor):
      return
        "\(operation): matrix is not positive definite (the leading minor of order \(leadingMinor) is not positive; LAPACK info = \(leadingMinor))"
    case .singular(let operation, let pivot):
      return
        "\(operation): matrix is singular (U(\(pivot),\(pivot)) is exactly zero; LAPACK info = \(pivot))"
    case .noConvergence(let operation, let info):
      return "\(operation): the algorithm did not converge (LAPACK info = \(info))"
    case .invalidArgument(let operation, let info):
      return
        "\(operation): argument \(-info) had an illegal value or contained NaN (info = \(info))"
    }
  }
}
