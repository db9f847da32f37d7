import Numerics
import Testing

@testable import MTFQI

// Numeric comparison helpers for the linear-algebra tests. Tolerances are absolute and stated
// at each call: the known answers are small integers or simple fractions, so an absolute
// tolerance of a few hundred ulps of the data's magnitude is the honest bound for
// backward-stable LAPACK routines on these well-conditioned inputs.

/// Expects `actual` to have `expected`'s shape and every element within `absoluteTolerance`.
func expectApproximatelyEqual(
  _ actual: Matrix, _ expected: Matrix, absoluteTolerance: Double,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  #expect(
    actual.rows == expected.rows && actual.columns == expected.columns,
    "shape \(actual.shapeDescription), expected \(expected.shapeDescription)",
    sourceLocation: sourceLocation)
  guard actual.rows == expected.rows && actual.columns == expected.columns else { return }
  for (index, (value, reference)) in zip(actual.storage, expected.storage).enumerated() {
    #expect(
      value.isApproximatelyEqual(to: reference, absoluteTolerance: absoluteTolerance),
      "element (\(index % max(1, actual.rows)), \(index / max(1, actual.rows))): \(value) vs \(reference)\n\(actual)",
      sourceLocation: sourceLocation)
  }
}

/// Expects equal counts and every element within `absoluteTolerance`.
func expectApproximatelyEqual(
  _ actual: [Double], _ expected: [Double], absoluteTolerance: Double,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  #expect(
    actual.count == expected.count, "\(actual) vs \(expected)", sourceLocation: sourceLocation)
  for (value, reference) in zip(actual, expected) {
    #expect(
      value.isApproximatelyEqual(to: reference, absoluteTolerance: absoluteTolerance),
      "\(actual) vs \(expected)", sourceLocation: sourceLocation)
  }
}

/// Expects Q^T Q = I (orthonormal columns) within `absoluteTolerance`.
func expectOrthonormalColumns(
  _ q: Matrix, absoluteTolerance: Double, sourceLocation: SourceLocation = #_sourceLocation
) throws {
  let product = try LinearAlgebra.gemm(q, .transpose, q)
  expectApproximatelyEqual(
    product, .identity(q.columns), absoluteTolerance: absoluteTolerance,
    sourceLocation: sourceLocation)
}
