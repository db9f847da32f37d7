import Numerics
import Testing

@testable import MTFQI

@Suite("Matrix")
struct MatrixTests {
  @Test("row-major input is stored column-major; accessors agree")
  func layoutAndAccessors() {
    // [[1, 2, 3],
    //  [4, 5, 6]]
    let a = Matrix(rows: 2, columns: 3, rowMajor: [1, 2, 3, 4, 5, 6])
    #expect(a.storage == [1, 4, 2, 5, 3, 6])
    #expect(a == Matrix(rows: 2, columns: 3, columnMajor: [1, 4, 2, 5, 3, 6]))
    #expect(a[1, 2] == 6)
    #expect(a[0, 1] == 2)
    #expect(a.row(1) == [4, 5, 6])
    #expect(a.column(2) == [3, 6])
    #expect(a.rowMajorValues() == [1, 2, 3, 4, 5, 6])
    #expect(a.transposed == Matrix(rows: 3, columns: 2, rowMajor: [1, 4, 2, 5, 3, 6]))
    #expect(a.columns(1..<3) == Matrix(rows: 2, columns: 2, rowMajor: [2, 3, 5, 6]))
    #expect(a.columns(1..<1) == Matrix(rows: 2, columns: 0))

    var b = a
    b[0, 0] = 10
    #expect(a[0, 0] == 1, "value semantics: a copy's write does not reach the original")
    #expect(b.storage[0] == 10)
  }

  @Test("identity, diagonal and repeating initialisers")
  func constructors() {
    #expect(Matrix.identity(2) == Matrix(rows: 2, columns: 2, rowMajor: [1, 0, 0, 1]))
    #expect(Matrix(diagonal: [2, 3]) == Matrix(rows: 2, columns: 2, rowMajor: [2, 0, 0, 3]))
    #expect(Matrix(rows: 2, columns: 1, repeating: 7).storage == [7, 7])
    #expect(Matrix(rows: 0, columns: 3).storage.isEmpty)
  }

  @Test("Frobenius norm: 3-4-5, and no overflow for huge entries")
  func frobeniusNorm() {
    #expect(Matrix(rows: 1, columns: 2, rowMajor: [3, 4]).frobeniusNorm == 5)
    #expect(Matrix(rows: 0, columns: 0).frobeniusNorm == 0)
    // sqrt(3^2 + 4^2) * 1e200: the naive sum of squares would overflow to infinity.
    let huge = Matrix(rows: 2, columns: 1, columnMajor: [3e200, -4e200])
    #expect(huge.frobeniusNorm.isApproximatelyEqual(to: 5e200, relativeTolerance: 1e-15))
    #expect(Matrix(rows: 1, columns: 2, rowMajor: [1, .nan]).frobeniusNorm.isNaN)
  }

  @Test("description shows the shape and the rows")
  func description() {
    let text = Matrix(rows: 2, columns: 2, rowMajor: [1, 2, 3, 4]).description
    #expect(text == "Matrix 2x2\n  [1.0, 2.0]\n  [3.0, 4.0]")
  }

  @Test("rows(_:) copies a block of rows: rows 1..<3 of a 4x2 matrix")
  func rowBlock() {
    let m = Matrix(rows: 4, columns: 2, rowMajor: [1, 2, 3, 4, 5, 6, 7, 8])
    let block = m.rows(1..<3)
    #expect(block.rows == 2 && block.columns == 2)
    #expect(block == Matrix(rows: 2, columns: 2, rowMajor: [3, 4, 5, 6]))
    #expect(m.rows(0..<0).rows == 0)
  }
}
