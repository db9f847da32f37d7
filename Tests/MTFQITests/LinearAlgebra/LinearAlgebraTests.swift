import Numerics
import Testing

@testable import MTFQI

// Known-answer tests for the BLAS/LAPACK layer. Every expected value is computed by hand (or
// is a textbook example, cited) and written in the comments. Tolerances are absolute:
// - `exact`: 1e-13 for results of magnitude about 1 from backward-stable routines on
//   well-conditioned 2x2 to 4x4 inputs (a few hundred ulps);
// - results of larger magnitude use a tolerance scaled by that magnitude, stated at the call.

private let exact = 1e-13

@Suite("LinearAlgebra: BLAS")
struct BLASTests {
  @Test("gemm without transposes: [[1,2],[3,4]] [[5,6],[7,8]] = [[19,22],[43,50]]")
  func gemmPlain() throws {
    let a = Matrix(rows: 2, columns: 2, rowMajor: [1, 2, 3, 4])
    let b = Matrix(rows: 2, columns: 2, rowMajor: [5, 6, 7, 8])
    let product = try LinearAlgebra.gemm(a, b)
    #expect(product == Matrix(rows: 2, columns: 2, rowMajor: [19, 22, 43, 50]))
    // The spelled-out form of the primary signature gives the same.
    #expect(try LinearAlgebra.gemm(a, .none, b, .none) == product)
  }

  @Test("gemm with transposes against hand-computed products")
  func gemmTransposes() throws {
    // A 3x2, B 3x2: A^T B = [[1+0+5, 0+3+5], [2+0+6, 0+4+6]] = [[6, 8], [8, 10]].
    let a = Matrix(rows: 3, columns: 2, rowMajor: [1, 2, 3, 4, 5, 6])
    let b = Matrix(rows: 3, columns: 2, rowMajor: [1, 0, 0, 1, 1, 1])
    #expect(
      try LinearAlgebra.gemm(a, .transpose, b)
        == Matrix(rows: 2, columns: 2, rowMajor: [6, 8, 8, 10]))

    // A B^T = [[1*5+2*6, 1*7+2*8], [3*5+4*6, 3*7+4*8]] = [[17, 23], [39, 53]].
    let p = Matrix(rows: 2, columns: 2, rowMajor: [1, 2, 3, 4])
    let q = Matrix(rows: 2, columns: 2, rowMajor: [5, 6, 7, 8])
    let expectedABt = Matrix(rows: 2, columns: 2, rowMajor: [17, 23, 39, 53])
    #expect(try LinearAlgebra.gemm(p, q, .transpose) == expectedABt)
    #expect(try LinearAlgebra.gemm(p, .none, q, .transpose) == expectedABt)

    // A^T B^T = (B A)^T, B A = [[23, 34], [31, 46]].
    #expect(
      try LinearAlgebra.gemm(p, .transpose, q, .transpose)
        == Matrix(rows: 2, columns: 2, rowMajor: [23, 31, 34, 46]))

    // A (2x3) times B (3x1) with a non-square result: [[1,2,3],[4,5,6]] [1,1,1]^T = [6, 15].
    let wide = Matrix(rows: 2, columns: 3, rowMajor: [1, 2, 3, 4, 5, 6])
    let ones = Matrix(rows: 3, columns: 1, repeating: 1)
    #expect(
      try LinearAlgebra.gemm(wide, ones) == Matrix(rows: 2, columns: 1, columnMajor: [6, 15]))
  }

  @Test("gemm alpha and beta: 2 A B - C, and C is not modified")
  func gemmAlphaBeta() throws {
    let a = Matrix(rows: 2, columns: 2, rowMajor: [1, 2, 3, 4])
    let b = Matrix(rows: 2, columns: 2, rowMajor: [5, 6, 7, 8])
    let c = Matrix(rows: 2, columns: 2, repeating: 1)
    // 2 * [[19, 22], [43, 50]] - 1 = [[37, 43], [85, 99]].
    let result = try LinearAlgebra.gemm(a, b, alpha: 2, beta: -1, c: c)
    #expect(result == Matrix(rows: 2, columns: 2, rowMajor: [37, 43, 85, 99]))
    #expect(c == Matrix(rows: 2, columns: 2, repeating: 1))
    // beta == 0 ignores C entirely, NaN included (BLAS semantics).
    let poisoned = Matrix(rows: 2, columns: 2, repeating: .nan)
    #expect(
      try LinearAlgebra.gemm(a, b, beta: 0, c: poisoned)
        == Matrix(rows: 2, columns: 2, rowMajor: [19, 22, 43, 50]))
  }

  @Test("gemm with an empty inner dimension gives beta C")
  func gemmEmptyInner() throws {
    let a = Matrix(rows: 2, columns: 0)
    let b = Matrix(rows: 0, columns: 3)
    #expect(try LinearAlgebra.gemm(a, b) == Matrix(rows: 2, columns: 3))
    let c = Matrix(rows: 2, columns: 3, repeating: 1.5)
    #expect(
      try LinearAlgebra.gemm(a, b, beta: 2, c: c) == Matrix(rows: 2, columns: 3, repeating: 3))
  }

  @Test("gemm and gemv shape mismatches throw, naming the shapes")
  func shapeMismatches() {
    let a = Matrix(rows: 2, columns: 3)
    let b = Matrix(rows: 2, columns: 3)
    let error = #expect(throws: LinearAlgebraError.self) { try LinearAlgebra.gemm(a, b) }
    if case .shapeMismatch(let operation, let detail) = error {
      #expect(operation == "gemm (dgemm)")
      #expect(detail.contains("2x3"))
    } else {
      Issue.record("expected shapeMismatch, got \(String(describing: error))")
    }
    // op(A) = A^T is 3x2, B is 2x3: fits; a wrong C does not.
    expectError(LinearAlgebraError.self, case: "shapeMismatch") {
      try LinearAlgebra.gemm(a, .transpose, b, c: Matrix(rows: 2, columns: 2))
    }
    expectError(LinearAlgebraError.self, case: "shapeMismatch") { try LinearAlgebra.gemv(a, [1, 2]) }
    expectError(LinearAlgebraError.self, case: "shapeMismatch") { try LinearAlgebra.gemv(a, .transpose, [1, 2, 3]) }
    expectError(LinearAlgebraError.self, case: "shapeMismatch") {
      var accumulator = Matrix(rows: 2, columns: 2)
      try LinearAlgebra.syrk(a, alpha: 1, into: &accumulator, beta: 1)
    }
  }

  @Test("gemv: A x and A^T y")
  func gemv() throws {
    let a = Matrix(rows: 2, columns: 3, rowMajor: [1, 2, 3, 4, 5, 6])
    // [1 - 3, 4 - 6] = [-2, -2]
    #expect(try LinearAlgebra.gemv(a, [1, 0, -1]) == [-2, -2])
    // [1 + 4, 2 + 5, 3 + 6] = [5, 7, 9]
    #expect(try LinearAlgebra.gemv(a, .transpose, [1, 1]) == [5, 7, 9])
  }

  @Test("gram A^T A = [[35, 44], [44, 56]], and syrk accumulates it batch by batch")
  func gramAndSyrk() throws {
    // A = [[1,2],[3,4],[5,6]]: A^T A = [[1+9+25, 2+12+30], [.., 4+16+36]].
    let a = Matrix(rows: 3, columns: 2, rowMajor: [1, 2, 3, 4, 5, 6])
    let expected = Matrix(rows: 2, columns: 2, rowMajor: [35, 44, 44, 56])
    #expect(LinearAlgebra.gram(a) == expected)
    #expect(LinearAlgebra.gram(Matrix(rows: 0, columns: 2)) == Matrix(rows: 2, columns: 2))

    var accumulator = Matrix(rows: 2, columns: 2, repeating: .nan)
    try LinearAlgebra.syrk(
      Matrix(rows: 2, columns: 2, rowMajor: [1, 2, 3, 4]), alpha: 1, into: &accumulator, beta: 0)
    try LinearAlgebra.syrk(
      Matrix(rows: 1, columns: 2, rowMajor: [5, 6]), alpha: 1, into: &accumulator, beta: 1)
    #expect(accumulator == expected)

    // C = 0.5 * A^T A + 2 * C = 2.5 * expected.
    try LinearAlgebra.syrk(a, alpha: 0.5, into: &accumulator, beta: 2)
    #expect(accumulator == Matrix(rows: 2, columns: 2, rowMajor: [87.5, 110, 110, 140]))

    // syrkUpper leaves the strict lower triangle alone until it is mirrored.
    var upper = Matrix(rows: 2, columns: 2, rowMajor: [0, 0, -1, 0])
    try LinearAlgebra.syrkUpper(a, alpha: 1, into: &upper, beta: 0)
    #expect(upper == Matrix(rows: 2, columns: 2, rowMajor: [35, 44, -1, 56]))
    LinearAlgebra.symmetrizeFromUpperTriangle(&upper)
    #expect(upper == expected)
  }
}

@Suite("LinearAlgebra: linear systems")
struct LinearSystemTests {
  // The classic SPD example with Cholesky factor L = [[2,0,0],[6,1,0],[-8,5,3]].
  let spd = Matrix(rows: 3, columns: 3, rowMajor: [4, 12, -16, 12, 37, -43, -16, -43, 98])

  @Test("Cholesky solve of a 3x3 SPD system with integer solution [1, 2, 3]")
  func choleskySolve() throws {
    // b = A [1, 2, 3]^T = [4+24-48, 12+74-129, -16-86+294] = [-20, -43, 192].
    let b = Matrix(rows: 3, columns: 2, rowMajor: [-20, 4, -43, 12, 192, -16])  // 2nd column: A e1
    let copy = spd
    let x = try LinearAlgebra.choleskySolve(spd, b)
    // Entries up to 98, condition number about 2e3: 1e-11 absolute.
    expectApproximatelyEqual(
      x, Matrix(rows: 3, columns: 2, rowMajor: [1, 1, 2, 0, 3, 0]), absoluteTolerance: 1e-11)
    #expect(spd == copy, "the input matrix is not modified")
  }

  @Test("Cholesky on an indefinite matrix throws notPositiveDefinite with the failing minor")
  func choleskyIndefinite() {
    // [[1, 2], [2, 1]]: first minor 1 > 0, second minor 1 - 4 = -3 < 0, so dpotrf info = 2.
    let indefinite = Matrix(rows: 2, columns: 2, rowMajor: [1, 2, 2, 1])
    #expect(
      throws: LinearAlgebraError.notPositiveDefinite(
        operation: "choleskySolve (dpotrf)", leadingMinor: 2)
    ) {
      try LinearAlgebra.choleskySolve(indefinite, Matrix(rows: 2, columns: 1))
    }
    // diag(2, 3, -1): minors 2, 6, -6, so info = 3.
    #expect(
      throws: LinearAlgebraError.notPositiveDefinite(
        operation: "choleskySolve (dpotrf)", leadingMinor: 3)
    ) {
      try LinearAlgebra.choleskySolve(Matrix(diagonal: [2, 3, -1]), Matrix(rows: 3, columns: 1))
    }
    expectError(LinearAlgebraError.self, case: "shapeMismatch") {
      try LinearAlgebra.choleskySolve(Matrix(rows: 2, columns: 3), Matrix(rows: 2, columns: 1))
    }
    expectError(LinearAlgebraError.self, case: "shapeMismatch") {
      try LinearAlgebra.choleskySolve(indefinite, Matrix(rows: 3, columns: 1))
    }
  }

  @Test("NaN input is reported by LAPACKE's NaN check as invalidArgument")
  func nanInput() {
    let error = #expect(throws: LinearAlgebraError.self) {
      try LinearAlgebra.choleskySolve(Matrix(diagonal: [1, .nan]), Matrix(rows: 2, columns: 1))
    }
    if case .invalidArgument(_, let info) = error {
      #expect(info < 0)
    } else {
      Issue.record("expected invalidArgument, got \(String(describing: error))")
    }
  }

  @Test("ridge solve makes a singular PSD matrix solvable: ([[1,1],[1,1]] + I) x = [3, 3]")
  func ridgeSolve() throws {
    // [[2, 1], [1, 2]] x = [3, 3] gives x = [1, 1].
    let psd = Matrix(rows: 2, columns: 2, rowMajor: [1, 1, 1, 1])
    let x = try LinearAlgebra.ridgeSolve(
      psd, Matrix(rows: 2, columns: 1, columnMajor: [3, 3]), ridge: 1)
    expectApproximatelyEqual(
      x, Matrix(rows: 2, columns: 1, columnMajor: [1, 1]), absoluteTolerance: exact)
    #expect(psd == Matrix(rows: 2, columns: 2, rowMajor: [1, 1, 1, 1]))
    // Without the ridge the second minor is 0: not positive definite.
    #expect(
      throws: LinearAlgebraError.notPositiveDefinite(
        operation: "ridgeSolve (dpotrf)", leadingMinor: 2)
    ) {
      try LinearAlgebra.ridgeSolve(psd, Matrix(rows: 2, columns: 1), ridge: 0)
    }
    #expect(throws: LinearAlgebraError.invalidArgument(operation: "ridgeSolve", info: -3)) {
      try LinearAlgebra.ridgeSolve(psd, Matrix(rows: 2, columns: 1), ridge: -1)
    }
  }

  @Test("LU solve of a general 3x3 system: x = [2, 3, -1]")
  func luSolve() throws {
    // The worked Gaussian-elimination example: 2x + y - z = 8, -3x - y + 2z = -11,
    // -2x + y + 2z = -3 has the solution (2, 3, -1).
    let a = Matrix(rows: 3, columns: 3, rowMajor: [2, 1, -1, -3, -1, 2, -2, 1, 2])
    let b = Matrix(rows: 3, columns: 1, columnMajor: [8, -11, -3])
    let x = try LinearAlgebra.solve(a, b)
    expectApproximatelyEqual(
      x, Matrix(rows: 3, columns: 1, columnMajor: [2, 3, -1]), absoluteTolerance: 1e-12)
  }

  @Test("LU solve of a singular matrix throws singular with the zero pivot")
  func luSingular() {
    // [[1, 2], [2, 4]]: pivoting takes row 2, then row 1 - 0.5 row 2 = [0, 0] exactly: U(2,2) = 0.
    let singular = Matrix(rows: 2, columns: 2, rowMajor: [1, 2, 2, 4])
    #expect(throws: LinearAlgebraError.singular(operation: "solve (dgesv)", pivot: 2)) {
      try LinearAlgebra.solve(singular, Matrix(rows: 2, columns: 1, columnMajor: [1, 1]))
    }
    expectError(LinearAlgebraError.self, case: "shapeMismatch") {
      try LinearAlgebra.solve(Matrix(rows: 2, columns: 3), Matrix(rows: 2, columns: 1))
    }
  }
}

@Suite("LinearAlgebra: decompositions")
struct DecompositionTests {
  @Test("eigenvalues of [[2,1],[1,2]] are 1 and 3; A V = V diag(values), V^T V = I")
  func eigen2x2() throws {
    let a = Matrix(rows: 2, columns: 2, rowMajor: [2, 1, 1, 2])
    let (values, vectors) = try LinearAlgebra.symmetricEigen(a)
    expectApproximatelyEqual(values, [1, 3], absoluteTolerance: exact)
    try expectOrthonormalColumns(vectors, absoluteTolerance: exact)
    let av = try LinearAlgebra.gemm(a, vectors)
    let vd = try LinearAlgebra.gemm(vectors, Matrix(diagonal: values))
    expectApproximatelyEqual(av, vd, absoluteTolerance: exact)
    // Eigenvectors (1, -1)/sqrt 2 and (1, 1)/sqrt 2 up to sign.
    for value in vectors.storage {
      #expect(
        value.magnitude.isApproximatelyEqual(to: (0.5).squareRoot(), absoluteTolerance: exact))
    }
  }

  @Test("eigenvectors of a 3x3 with distinct eigenvalues 1, 2, 11 follow the sign rule")
  func eigen3x3() throws {
    // diag block 2 and [[3, 4], [4, 9]] (trace 12, determinant 11: eigenvalues 6 -+ 5).
    // lambda = 1: (0, 2, -1)/sqrt 5; lambda = 2: e1; lambda = 11: (0, 1, 2)/sqrt 5. The sign
    // rule makes the largest-magnitude entry of each positive.
    let a = Matrix(rows: 3, columns: 3, rowMajor: [2, 0, 0, 0, 3, 4, 0, 4, 9])
    let (values, vectors) = try LinearAlgebra.symmetricEigen(a)
    expectApproximatelyEqual(values, [1, 2, 11], absoluteTolerance: 1e-12)
    let r = 1 / (5.0).squareRoot()
    let expected = Matrix(rows: 3, columns: 3, rowMajor: [0, 1, 0, 2 * r, 0, r, -r, 0, 2 * r])
    expectApproximatelyEqual(vectors, expected, absoluteTolerance: 1e-12)
    expectError(LinearAlgebraError.self, case: "shapeMismatch") {
      try LinearAlgebra.symmetricEigen(Matrix(rows: 2, columns: 3))
    }
  }

  @Test("SVD of the rank-1 matrix 15 u v^T, u = (1,2,2)/3, v = (3,4)/5")
  func svdRankOne() throws {
    let a = Matrix(rows: 3, columns: 2, rowMajor: [3, 4, 6, 8, 6, 8])
    let (u, s, vt) = try LinearAlgebra.svd(a)
    #expect(u.rows == 3 && u.columns == 2 && vt.rows == 2 && vt.columns == 2)
    // Singular values 15 and 0; entries of size 15: 1e-12 absolute.
    expectApproximatelyEqual(s, [15, 0], absoluteTolerance: 1e-12)
    expectApproximatelyEqual(u.column(0), [1.0 / 3, 2.0 / 3, 2.0 / 3], absoluteTolerance: exact)
    expectApproximatelyEqual(vt.row(0), [0.6, 0.8], absoluteTolerance: exact)
    try expectOrthonormalColumns(u, absoluteTolerance: exact)
    try expectOrthonormalColumns(vt.transposed, absoluteTolerance: exact)
    let reconstructed = try LinearAlgebra.gemm(try LinearAlgebra.gemm(u, Matrix(diagonal: s)), vt)
    expectApproximatelyEqual(reconstructed, a, absoluteTolerance: 1e-12)
  }

  @Test("SVD of diag(2, -3) padded to 3x2: s = [3, 2] and the sign rule")
  func svdSigns() throws {
    let a = Matrix(rows: 3, columns: 2, rowMajor: [2, 0, 0, -3, 0, 0])
    let (u, s, vt) = try LinearAlgebra.svd(a)
    expectApproximatelyEqual(s, [3, 2], absoluteTolerance: exact)
    // U's largest entry per column is positive, so the sign of -3 moves into Vt.
    expectApproximatelyEqual(
      u, Matrix(rows: 3, columns: 2, rowMajor: [0, 1, 1, 0, 0, 0]), absoluteTolerance: exact)
    expectApproximatelyEqual(
      vt, Matrix(rows: 2, columns: 2, rowMajor: [0, -1, 1, 0]), absoluteTolerance: exact)
    // A wide matrix: r = min(m, n) = 2, U 2x2, Vt 2x3.
    let (wu, ws, wvt) = try LinearAlgebra.svd(a.transposed)
    #expect(wu.rows == 2 && wu.columns == 2 && wvt.rows == 2 && wvt.columns == 3)
    expectApproximatelyEqual(ws, [3, 2], absoluteTolerance: exact)
  }

  @Test("QR of the textbook 3x3 example: R = [[14,21,-14],[0,175,-70],[0,0,35]]")
  func qrKnown() throws {
    // A = [[12,-51,4],[6,167,-68],[-4,24,-41]] (the Householder example on Wikipedia's QR page).
    let a = Matrix(rows: 3, columns: 3, rowMajor: [12, -51, 4, 6, 167, -68, -4, 24, -41])
    let (q, r) = try LinearAlgebra.qr(a)
    let expectedQ = Matrix(
      rows: 3, columns: 3,
      rowMajor: [
        6.0 / 7, -69.0 / 175, -58.0 / 175, 3.0 / 7, 158.0 / 175, 6.0 / 175, -2.0 / 7, 6.0 / 35,
        -33.0 / 35,
      ])
    let expectedR = Matrix(rows: 3, columns: 3, rowMajor: [14, 21, -14, 0, 175, -70, 0, 0, 35])
    expectApproximatelyEqual(q, expectedQ, absoluteTolerance: exact)
    // Entries up to 175: 1e-11 absolute.
    expectApproximatelyEqual(r, expectedR, absoluteTolerance: 1e-11)
    #expect(r[1, 0] == 0 && r[2, 0] == 0 && r[2, 1] == 0, "R is exactly upper triangular")
    try expectOrthonormalColumns(q, absoluteTolerance: exact)
    expectApproximatelyEqual(try LinearAlgebra.gemm(q, r), a, absoluteTolerance: 1e-11)
  }

  @Test("thin QR of a tall matrix; diag(R) >= 0 even when LAPACK's would be negative; wide throws")
  func qrThin() throws {
    // A = [[-1, 0], [0, -2], [0, 0]]: Q = [[1,0],[0,1],[0,0]] up to signs; with diag(R) >= 0,
    // Q = -[[1,0],[0,1],[0,0]] and R = diag(1, 2).
    let a = Matrix(rows: 3, columns: 2, rowMajor: [-1, 0, 0, -2, 0, 0])
    let (q, r) = try LinearAlgebra.qr(a)
    expectApproximatelyEqual(r, Matrix(diagonal: [1, 2]), absoluteTolerance: exact)
    expectApproximatelyEqual(
      q, Matrix(rows: 3, columns: 2, rowMajor: [-1, 0, 0, -1, 0, 0]), absoluteTolerance: exact)
    expectError(LinearAlgebraError.self, case: "shapeMismatch") { try LinearAlgebra.qr(Matrix(rows: 2, columns: 3)) }
  }
}

@Suite("LinearAlgebra: least squares")
struct LeastSquaresTests {
  @Test("overdetermined consistent system: the exact solution is recovered")
  func consistent() throws {
    // b = 1 + 2 t at t = 0, 1, 2, 3.
    let a = Matrix(rows: 4, columns: 2, rowMajor: [1, 0, 1, 1, 1, 2, 1, 3])
    let b = Matrix(rows: 4, columns: 1, columnMajor: [1, 3, 5, 7])
    let x = try LinearAlgebra.leastSquares(a, b)
    expectApproximatelyEqual(
      x, Matrix(rows: 2, columns: 1, columnMajor: [1, 2]), absoluteTolerance: 1e-12)
  }

  @Test("inconsistent system: the best line through (0,6), (1,0), (2,0) is 5 - 3t")
  func inconsistent() throws {
    // Normal equations [[3, 3], [3, 5]] x = [6, 0] give x = (5, -3).
    let a = Matrix(rows: 3, columns: 2, rowMajor: [1, 0, 1, 1, 1, 2])
    let b = Matrix(rows: 3, columns: 1, columnMajor: [6, 0, 0])
    expectApproximatelyEqual(
      try LinearAlgebra.leastSquares(a, b), Matrix(rows: 2, columns: 1, columnMajor: [5, -3]),
      absoluteTolerance: 1e-12)
    // With ridge 1: [[4, 3], [3, 6]] x = [6, 0], x = [[6, -3], [-3, 4]] [6, 0] / 15 = (2.4, -1.2).
    expectApproximatelyEqual(
      try LinearAlgebra.leastSquares(a, b, ridge: 1),
      Matrix(rows: 2, columns: 1, columnMajor: [2.4, -1.2]), absoluteTolerance: 1e-12)
    #expect(throws: LinearAlgebraError.invalidArgument(operation: "leastSquares", info: -3)) {
      try LinearAlgebra.leastSquares(a, b, ridge: .nan)
    }
    expectError(LinearAlgebraError.self, case: "shapeMismatch") {
      try LinearAlgebra.leastSquares(a, Matrix(rows: 2, columns: 1))
    }
  }

  @Test("rank-deficient and underdetermined systems give the minimum-norm solution")
  func minimumNorm() throws {
    // Column 2 = 2 * column 1: every x with x1 + 2 x2 = 1 fits exactly; the minimum-norm one
    // is (1, 2) / 5.
    let a = Matrix(rows: 3, columns: 2, rowMajor: [1, 2, 2, 4, 3, 6])
    let b = Matrix(rows: 3, columns: 1, columnMajor: [1, 2, 3])
    let result = try LinearAlgebra.minimumNormLeastSquares(a, b)
    #expect(result.rank == 1)
    expectApproximatelyEqual(
      result.solution, Matrix(rows: 2, columns: 1, columnMajor: [0.2, 0.4]),
      absoluteTolerance: exact)
    expectApproximatelyEqual(
      try LinearAlgebra.leastSquares(a, b), result.solution, absoluteTolerance: exact)

    // Inconsistent and rank deficient: x1 + x2 should be 1 and 3; the best is 2, min norm (1, 1).
    let duplicated = Matrix(rows: 2, columns: 2, rowMajor: [1, 1, 1, 1])
    expectApproximatelyEqual(
      try LinearAlgebra.leastSquares(duplicated, Matrix(rows: 2, columns: 1, columnMajor: [1, 3])),
      Matrix(rows: 2, columns: 1, columnMajor: [1, 1]), absoluteTolerance: exact)

    // Underdetermined 1x2: x1 + 2 x2 = 5, minimum norm x = (1, 2).
    expectApproximatelyEqual(
      try LinearAlgebra.leastSquares(
        Matrix(rows: 1, columns: 2, rowMajor: [1, 2]), Matrix(rows: 1, columns: 1, columnMajor: [5])
      ),
      Matrix(rows: 2, columns: 1, columnMajor: [1, 2]), absoluteTolerance: exact)
  }

  @Test("ridge least squares on the identity halves the targets")
  func ridge() throws {
    // (I + I) x = b.
    let x = try LinearAlgebra.leastSquares(
      .identity(2), Matrix(rows: 2, columns: 2, rowMajor: [2, -6, 4, 8]), ridge: 1)
    expectApproximatelyEqual(
      x, Matrix(rows: 2, columns: 2, rowMajor: [1, -3, 2, 4]), absoluteTolerance: exact)
    // No data rows: the ridge alone pulls the solution to zero.
    #expect(
      try LinearAlgebra.leastSquares(
        Matrix(rows: 0, columns: 2), Matrix(rows: 0, columns: 1), ridge: 1)
        == Matrix(rows: 2, columns: 1))
  }
}

@Suite("LinearAlgebra: subspace distance")
struct SubspaceDistanceTests {
  let e1 = [1.0, 0, 0]
  let e2 = [0.0, 1, 0]

  func span(_ vectors: [Double]...) -> Matrix {
    Matrix(rows: 3, columns: vectors.count, columnMajor: vectors.flatMap { $0 })
  }

  @Test("identical spans in different bases: 0")
  func identical() throws {
    let distance = try LinearAlgebra.subspaceDistance(span(e1, e2), span([1, 1, 0], [1, -1, 0]))
    #expect(distance.isApproximatelyEqual(to: 0, absoluteTolerance: exact))
    // A rank-deficient generating set spans the same line.
    let line = try LinearAlgebra.subspaceDistance(span(e1), span(e1, [2, 0, 0]))
    #expect(line.isApproximatelyEqual(to: 0, absoluteTolerance: exact))
  }

  @Test("orthogonal spans: 1")
  func orthogonal() throws {
    #expect(
      try LinearAlgebra.subspaceDistance(span(e1), span(e2)).isApproximatelyEqual(
        to: 1, absoluteTolerance: exact))
    #expect(
      try LinearAlgebra.subspaceDistance(span(e1, e2), span([0, 0, 1]))
        .isApproximatelyEqual(to: 1, absoluteTolerance: exact))
  }

  @Test("known angles: 45 degrees gives sqrt(1/2), 30 degrees gives 1/2")
  func knownAngles() throws {
    let fortyFive = try LinearAlgebra.subspaceDistance(span(e1), span([1, 1, 0]))
    #expect(fortyFive.isApproximatelyEqual(to: (0.5).squareRoot(), absoluteTolerance: exact))
    let thirty = try LinearAlgebra.subspaceDistance(
      span(e1), span([(3.0).squareRoot() / 2, 0.5, 0]))
    #expect(thirty.isApproximatelyEqual(to: 0.5, absoluteTolerance: exact))
    // Planes span(e1, e2) and span(e1, e2 + e3): principal angles 0 and 45 degrees.
    let planes = try LinearAlgebra.subspaceDistance(span(e1, e2), span(e1, [0, 1, 1]))
    #expect(planes.isApproximatelyEqual(to: (0.5).squareRoot(), absoluteTolerance: exact))
  }

  @Test("a line inside a plane: 0; a zero span: 1; different ambient dimensions throw")
  func edgeCases() throws {
    #expect(
      try LinearAlgebra.subspaceDistance(span([1, 1, 0]), span(e1, e2)).isApproximatelyEqual(
        to: 0, absoluteTolerance: exact))
    #expect(try LinearAlgebra.subspaceDistance(span([0, 0, 0]), span(e1)) == 1)
    #expect(try LinearAlgebra.subspaceDistance(span([0, 0, 0]), Matrix(rows: 3, columns: 0)) == 0)
    expectError(LinearAlgebraError.self, case: "shapeMismatch") {
      try LinearAlgebra.subspaceDistance(span(e1), Matrix(rows: 2, columns: 1, repeating: 1))
    }
  }
}

@Suite("LinearAlgebraError")
struct LinearAlgebraErrorTests {
  @Test("descriptions name the operation, the shapes and LAPACK's info")
  func descriptions() {
    let shape = LinearAlgebraError.shapeMismatch(operation: "gemm (dgemm)", detail: "A is 2x3")
    #expect(shape.description == "gemm (dgemm): shape mismatch: A is 2x3")
    let minor = LinearAlgebraError.notPositiveDefinite(
      operation: "choleskySolve (dpotrf)", leadingMinor: 2)
    #expect(minor.description.contains("order 2") && minor.description.contains("dpotrf"))
    let pivot = LinearAlgebraError.singular(operation: "solve (dgesv)", pivot: 3)
    #expect(pivot.description.contains("U(3,3)"))
  }
}
