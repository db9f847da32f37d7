import Foundation

/// How the D x D Gram matrices of one training run are partitioned. Every task's Gram matrix
/// has the same block-diagonal pattern, which is what lets the B-step separate into one system
/// per block.
enum GramStructure: Equatable, Sendable {
  /// One-hot features: every Gram matrix is diagonal (D blocks of size 1).
  case diagonal(dimension: Int)
  /// Dense blocks of the given sizes along the diagonal (one block of D for a feature table,
  /// one block of m per action for per-action-block features).
  case blocks(sizes: [Int])

  var isDiagonal: Bool {
    if case .diagonal = self { return true }
    return false
  }

  var dimension: Int {
    switch self {
    case .diagonal(let d): d
    case .blocks(let sizes): sizes.reduce(0, +)
    }
  }

  /// The first index of each block (`.blocks` only).
  var offsets: [Int] {
    guard case .blocks(let sizes) = self else { return [] }
    var result: [Int] = []
    var offset = 0
    for size in sizes {
      result.append(offset)
      offset += size
    }
    return result
  }
}

/// A block-diagonal symmetric positive semidefinite D x D matrix: a task's normalised Gram
/// matrix G = Psi^T Psi / n (the mean convention: every task's squared error is averaged over
/// its own n rows).
///
/// `.diagonal` keeps the D diagonal values; `.blocks` keeps one column-major dense matrix per
/// block (exactly symmetric). BLAS is called on the calling thread only.
struct BlockGram: Sendable {
  let structure: GramStructure
  /// `.diagonal`: the D diagonal values.
  let diagonal: [Double]
  /// `.blocks`: one m_b x m_b matrix per block.
  let blocks: [Matrix]

  init(diagonal: [Double]) {
    structure = .diagonal(dimension: diagonal.count)
    self.diagonal = diagonal
    blocks = []
  }

  init(blocks: [Matrix]) {
    structure = .blocks(sizes: blocks.map(\.rows))
    diagonal = []
    self.blocks = blocks
  }

  var dimension: Int { structure.dimension }

  /// G + ridge I (the same structure).
  func shifted(by ridge: Double) -> BlockGram {
    guard ridge != 0 else { return self }
    switch structure {
    case .diagonal:
      return BlockGram(diagonal: diagonal.map { $0 + ridge })
    case .blocks:
      return BlockGram(
        blocks: blocks.map { block in
          var result = block
          for i in 0..<block.rows { result.storage[i + i * block.rows] += ridge }
          return result
        })
    }
  }

  /// trace(G) / D: the mean feature second moment, the scale a ridge is compared with.
  var meanDiagonal: Double {
    let d = dimension
    guard d > 0 else { return 0 }
    var trace = 0.0
    switch structure {
    case .diagonal:
      for value in diagonal { trace += value }
    case .blocks:
      for block in blocks {
        for i in 0..<block.rows { trace += block.storage[i + i * block.rows] }
      }
    }
    return trace / Double(d)
  }

  /// G x.
  func multiply(_ x: [Double]) throws(LinearAlgebraError) -> [Double] {
    switch structure {
    case .diagonal:
      var result = [Double](repeating: 0, count: x.count)
      for i in 0..<x.count { result[i] = diagonal[i] * x[i] }
      return result
    case .blocks:
      var result = [Double](repeating: 0, count: x.count)
      var offset = 0
      for block in blocks {
        let m = block.rows
        let part = try LinearAlgebra.gemv(block, Array(x[offset..<(offset + m)]))
        for i in 0..<m { result[offset + i] = part[i] }
        offset += m
      }
      return result
    }
  }

  /// x^T G x (summed in index order).
  func quadratic(_ x: [Double]) throws(LinearAlgebraError) -> Double {
    let gx = try multiply(x)
    var sum = 0.0
    for i in 0..<x.count { sum += x[i] * gx[i] }
    return sum
  }

  /// B^T G B (k x k) for B (D x k), column-major, exactly symmetric.
  func projected(_ b: Matrix) throws(LinearAlgebraError) -> Matrix {
    let k = b.columns
    let d = b.rows
    switch structure {
    case .diagonal:
      var scaled = b
      for j in 0..<k {
        for i in 0..<d { scaled.storage[i + j * d] *= diagonal[i] }
      }
      var result = try LinearAlgebra.gemm(b, .transpose, scaled, .none)
      LinearAlgebra.symmetrizeFromUpperTriangle(&result)
      return result
    case .blocks:
      var result = Matrix(rows: k, columns: k)
      var offset = 0
      for block in blocks {
        let rows = b.rows(offset..<(offset + block.rows))
        let gb = try LinearAlgebra.gemm(block, rows)
        result = try LinearAlgebra.gemm(rows, .transpose, gb, .none, beta: 1, c: result)
        offset += block.rows
      }
      LinearAlgebra.symmetrizeFromUpperTriangle(&result)
      return result
    }
  }

  /// Solves (G + ridge I) x = c block by block (Cholesky per dense block).
  func ridgeSolve(_ c: [Double], ridge: Double) throws(LinearAlgebraError) -> [Double] {
    switch structure {
    case .diagonal:
      var result = [Double](repeating: 0, count: c.count)
      for i in 0..<c.count {
        let denominator = diagonal[i] + ridge
        guard denominator > 0 else {
          throw .notPositiveDefinite(
            operation: "ridgeSolve (diagonal), feature \(i)", leadingMinor: 1)
        }
        result[i] = c[i] / denominator
      }
      return result
    case .blocks:
      var result = [Double](repeating: 0, count: c.count)
      var offset = 0
      for block in blocks {
        let m = block.rows
        let rhs = Matrix(rows: m, columns: 1, columnMajor: Array(c[offset..<(offset + m)]))
        let x = try LinearAlgebra.ridgeSolve(block, rhs, ridge: ridge)
        for i in 0..<m { result[offset + i] = x.storage[i] }
        offset += m
      }
      return result
    }
  }
}
