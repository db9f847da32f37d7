/// A dense Float64 matrix in COLUMN-MAJOR storage: element (i, j) is `storage[i + j * rows]`, the
/// layout BLAS and LAPACK use (`CblasColMajor`, `LAPACK_COL_MAJOR`, leading dimension `rows`).
///
/// Indices are 0-based. Empty shapes (0 rows or 0 columns) are allowed.
///
/// Data sets arrive row-major (one transition per row); convert with
/// `init(rows:columns:rowMajor:)` and `rowMajorValues()`.
///
/// Equality is element-wise on `storage` (so `-0.0 == 0.0` and a NaN never equals itself).
public struct Matrix: Equatable, Sendable, CustomStringConvertible {
  public let rows: Int
  public let columns: Int
  /// Column-major elements; `count == rows * columns` must hold (the initialisers ensure it;
  /// code that replaces `storage` wholesale must keep it).
  public var storage: [Double]

  /// A rows x columns matrix with every element equal to `value`.
  public init(rows: Int, columns: Int, repeating value: Double = 0) {
    precondition(rows >= 0 && columns >= 0, "Matrix: negative shape \(rows)x\(columns)")
    self.rows = rows
    self.columns = columns
    self.storage = [Double](repeating: value, count: rows * columns)
  }

  /// A rows x columns matrix from column-major values (column 0 first).
  ///
  /// Precondition: `columnMajor.count == rows * columns`.
  public init(rows: Int, columns: Int, columnMajor: [Double]) {
    precondition(rows >= 0 && columns >= 0, "Matrix: negative shape \(rows)x\(columns)")
    precondition(
      columnMajor.count == rows * columns,
      "Matrix: \(columnMajor.count) values for a \(rows)x\(columns) matrix")
    self.rows = rows
    self.columns = columns
    self.storage = columnMajor
  }

  /// A rows x columns matrix from row-major values (row 0 first), as written in source code and as
  /// stored in row-major data files.
  ///
  /// Precondition: `rowMajor.count == rows * columns`.
  public init(rows: Int, columns: Int, rowMajor: [Double]) {
    precondition(rows >= 0 && columns >= 0, "Matrix: negative shape \(rows)x\(columns)")
    precondition(
      rowMajor.count == rows * columns,
      "Matrix: \(rowMajor.count) values for a \(rows)x\(columns) matrix")
    self.init(rows: rows, columns: columns)
    for i in 0..<rows {
      for j in 0..<columns {
        storage[i + j * rows] = rowMajor[i * columns + j]
      }
    }
  }

  /// The square matrix with `diagonal` on its diagonal and zeros elsewhere.
  public init(diagonal: [Double]) {
    let n = diagonal.count
    self.init(rows: n, columns: n)
    for (i, value) in diagonal.enumerated() {
      storage[i + i * n] = value
    }
  }

  /// The n x n identity.
  public static func identity(_ n: Int) -> Matrix {
    Matrix(diagonal: [Double](repeating: 1, count: n))
  }

  /// Element (row, column), 0-based.
  ///
  /// Traps when out of bounds.
  /// Rows `range` of this matrix, as a range.count x columns matrix (a copy).
  public func rows(_ range: Range<Int>) -> Matrix {
    var result = Matrix(rows: range.count, columns: columns)
    for j in 0..<columns {
      for (i, row) in range.enumerated() {
        result.storage[i + j * range.count] = storage[row + j * rows]
      }
    }
    return result
  }

  public subscript(row: Int, column: Int) -> Double {
    get {
      precondition(
        row >= 0 && row < rows && column >= 0 && column < columns,
        "Matrix: index (\(row), \(column)) out of bounds for \(shapeDescription)")
      return storage[row + column * rows]
    }
    set {
      precondition(
        row >= 0 && row < rows && column >= 0 && column < columns,
        "Matrix: index (\(row), \(column)) out of bounds for \(shapeDescription)")
      storage[row + column * rows] = newValue
    }
  }

  /// Column j (contiguous in storage), `rows` values.
  public func column(_ j: Int) -> [Double] {
    precondition(j >= 0 && j < columns, "Matrix: column \(j) out of bounds for \(shapeDescription)")
    return Array(storage[(j * rows)..<((j + 1) * rows)])
  }

  /// Row i (strided in storage), `columns` values.
  public func row(_ i: Int) -> [Double] {
    precondition(i >= 0 && i < rows, "Matrix: row \(i) out of bounds for \(shapeDescription)")
    return (0..<columns).map { storage[i + $0 * rows] }
  }

  /// The columns x rows transpose (a copy).
  public var transposed: Matrix {
    var result = Matrix(rows: columns, columns: rows)
    for j in 0..<columns {
      for i in 0..<rows {
        result.storage[j + i * columns] = storage[i + j * rows]
      }
    }
    return result
  }

  /// The elements in row-major order (row 0 first), `rows * columns` values.
  public func rowMajorValues() -> [Double] {
    transposed.storage
  }

  /// The block of columns `range` (a copy), rows x range.count.
  ///
  /// Precondition: the range lies within 0...columns.
  public func columns(_ range: Range<Int>) -> Matrix {
    precondition(
      range.lowerBound >= 0 && range.upperBound <= columns,
      "Matrix: columns \(range) out of bounds for \(shapeDescription)")
    return Matrix(
      rows: rows, columns: range.count,
      columnMajor: Array(storage[(range.lowerBound * rows)..<(range.upperBound * rows)]))
  }

  /// sqrt(sum of squares of all elements), computed with scaling by the largest magnitude so that
  /// it neither overflows nor underflows.
  ///
  /// NaN if any element is NaN; 0 for an empty matrix. Summation runs in storage order
  /// (deterministic).
  public var frobeniusNorm: Double {
    var largest = 0.0
    for value in storage {
      if value.isNaN { return .nan }
      largest = Swift.max(largest, value.magnitude)
    }
    if largest == 0 || largest.isInfinite { return largest }
    var sum = 0.0
    for value in storage {
      let scaled = value / largest
      sum += scaled * scaled
    }
    return largest * sum.squareRoot()
  }

  /// "rows x columns", as used in error messages.
  public var shapeDescription: String { "\(rows)x\(columns)" }

  /// The shape, then one line per row; large matrices show their first and last 4 rows and
  /// columns.
  public var description: String {
    let shown = 4
    func indices(_ count: Int) -> [Int?] {
      if count <= 2 * shown + 1 { return Array(0..<count) }
      return Array(0..<shown) + [nil] + Array((count - shown)..<count)
    }
    var lines = ["Matrix \(shapeDescription)"]
    for i in indices(rows) {
      guard let i else {
        lines.append("  ...")
        continue
      }
      let cells = indices(columns).map { j -> String in
        guard let j else { return "..." }
        return "\(storage[i + j * rows])"
      }
      lines.append("  [" + cells.joined(separator: ", ") + "]")
    }
    return lines.joined(separator: "\n")
  }
}
