import Foundation

/// A symmetric D x D second-moment matrix in the structure psi gives it.
enum SecondMoment: Sendable {
  /// Diagonal (one-hot features): the D diagonal entries.
  case diagonal([Double])
  /// Block diagonal (per-action blocks e_a (x) phi(s)): one m x m block per action, in order.
  case blocks([Matrix])
  /// Dense (a feature table, the learned space).
  case dense(Matrix)

  var dimension: Int {
    switch self {
    case .diagonal(let values): values.count
    case .blocks(let blocks): blocks.reduce(0) { $0 + $1.rows }
    case .dense(let matrix): matrix.rows
    }
  }

  var trace: Double {
    switch self {
    case .diagonal(let values): return values.reduce(0, +)
    case .blocks(let blocks):
      var sum = 0.0
      for block in blocks { for i in 0..<block.rows { sum += block[i, i] } }
      return sum
    case .dense(let matrix):
      var sum = 0.0
      for i in 0..<matrix.rows { sum += matrix[i, i] }
      return sum
    }
  }

  /// B^T Sigma B for B (D x k), dense k x k. For blocks, B's rows are split into the blocks'
  /// ranges, so no D x D matrix is formed.
  func projected(_ b: Matrix) throws(LinearAlgebraError) -> Matrix {
    switch self {
    case .diagonal(let values):
      var scaled = b
      for j in 0..<b.columns {
        for i in 0..<b.rows { scaled.storage[i + j * b.rows] *= values[i].squareRoot() }
      }
      return LinearAlgebra.gram(scaled)
    case .blocks(let blocks):
      var result = Matrix(rows: b.columns, columns: b.columns)
      var offset = 0
      for block in blocks {
        let rows = CoverageMath.rowRange(b, offset..<(offset + block.rows))
        let product = try LinearAlgebra.gemm(block, rows)
        result = try LinearAlgebra.gemm(
          rows, .transpose, product, .none, alpha: 1, beta: 1, c: result)
        offset += block.rows
      }
      return result
    case .dense(let matrix):
      let product = try LinearAlgebra.gemm(matrix, b)
      return try LinearAlgebra.gemm(b, .transpose, product)
    }
  }
}

/// The first and second moments of one scope in one feature space: Sigma_mu = mean over the
/// rows of psi(s, a) psi(s, a)^T, Sigma_pi = mean over the bootstrapping rows of
/// sum_a' pi(a'|s') psi(s', a') psi(s', a')^T and nu_pi = the same mean of psi(s', a').
struct FeatureMoments: Sendable {
  var sigmaMu: SecondMoment
  var sigmaPi: SecondMoment
  var nuPi: [Double]

  /// The same moments in the learned space B^T psi (k-dimensional, dense).
  func projected(_ b: Matrix) throws(LinearAlgebraError) -> FeatureMoments {
    FeatureMoments(
      sigmaMu: .dense(try sigmaMu.projected(b)), sigmaPi: .dense(try sigmaPi.projected(b)),
      nuPi: try LinearAlgebra.gemv(b, .transpose, nuPi))
  }
}

/// What the bootstrap test needs after the spectral analysis: per block, W with W W^T =
/// (Sigma_mu + ridge I)^-1, and the threshold.
struct MahalanobisFactor: Sendable {
  /// One factor per block (diagonal: one 1 x 1 per coordinate is not formed; see `diagonal`).
  var blocks: [Matrix]
  var diagonal: [Double]?
  var threshold: Double
}

enum CoverageMath {
  /// Rows `range` of `matrix` as a new matrix.
  static func rowRange(_ matrix: Matrix, _ range: Range<Int>) -> Matrix {
    var result = Matrix(rows: range.count, columns: matrix.columns)
    for j in 0..<matrix.columns {
      for (i, r) in range.enumerated() {
        result.storage[i + j * range.count] = matrix.storage[r + j * matrix.rows]
      }
    }
    return result
  }

  /// The rows `indices` of `matrix`, in that order.
  static func gatherRows(_ matrix: Matrix, _ indices: [Int]) -> Matrix {
    let n = indices.count
    var result = Matrix(rows: n, columns: matrix.columns)
    let rows = matrix.rows
    result.storage.withUnsafeMutableBufferPointer { out in
      matrix.storage.withUnsafeBufferPointer { source in
        for j in 0..<matrix.columns {
          let base = j * rows
          let outBase = j * n
          for (i, r) in indices.enumerated() { out[outBase + i] = source[base + r] }
        }
      }
    }
    return result
  }

  /// The largest D whose whole spectrum coverage.json records (the report, not the numbers,
  /// would grow with D beyond it).
  static let spectrumLimit = 1024

  /// The spectral numbers of one feature space and the factor for the bootstrap test.
  ///
  /// - eigenvalues of Sigma_mu (symmetric eigensolver per block; negatives from rounding
  ///   count as 0); tolerance tau = D * ulp * lambda_max decides rank, the condition number
  ///   (infinite when lambda_min <= tau) and the span used by `target_outside_data_span`;
  /// - ridge r = ridgeRelative * trace(Sigma_mu) / D; W = V diag((lambda + r)^-1/2) per block;
  /// - kappa = max over blocks of lambda_max(W^T Sigma_pi W); chi-square = ||W^T nu||^2;
  /// - effective dimension sum lambda / (lambda + r); threshold = factor * that.
  ///
  /// Throws `.input` when Sigma_mu is zero (no rows).
  static func analyse(
    _ moments: FeatureMoments, space: String, step: Int?, ridgeRelative: Double,
    thresholdFactor: Double, context: String
  ) throws(CoverageError) -> (FeatureReport, MahalanobisFactor) {
    let dimension = moments.sigmaMu.dimension
    let trace = moments.sigmaMu.trace
    guard trace > 0, trace.isFinite else {
      throw .input(
        "\(context): the feature covariance is zero or not finite (trace \(trace)): no usable rows")
    }
    let ridge = ridgeRelative * trace / Double(dimension)
    var eigenvalues: [Double] = []
    var kappa = 0.0
    var chiSquare = 0.0
    var outside = 0.0
    var factors: [Matrix] = []
    var diagonalFactor: [Double]?
    let piTrace = moments.sigmaPi.trace

    // Per block: (eigenvalues, eigenvectors or nil for diagonal).
    func decompose(_ matrix: Matrix) throws(CoverageError) -> (values: [Double], vectors: Matrix) {
      do {
        return try LinearAlgebra.symmetricEigen(matrix)
      } catch {
        throw .linearAlgebra(context: "\(context): eigenvalues of Sigma_mu", error: error)
      }
    }

    switch (moments.sigmaMu, moments.sigmaPi) {
    case (.diagonal(let mu), .diagonal(let pi)):
      eigenvalues = mu.map { max(0, $0) }
      let largest = eigenvalues.max() ?? 0
      let tolerance = Double(dimension) * Double.ulpOfOne * largest
      var factor = [Double](repeating: 0, count: dimension)
      for i in 0..<dimension {
        let inverse = 1 / (eigenvalues[i] + ridge)
        factor[i] = inverse.squareRoot()
        kappa = max(kappa, pi[i] * inverse)
        chiSquare += moments.nuPi[i] * moments.nuPi[i] * inverse
        if eigenvalues[i] <= tolerance { outside += pi[i] }
      }
      diagonalFactor = factor
    case (.blocks(let muBlocks), .blocks(let piBlocks)):
      var decompositions: [(values: [Double], vectors: Matrix)] = []
      for block in muBlocks { decompositions.append(try decompose(block)) }
      eigenvalues = decompositions.flatMap { $0.values.map { max(0, $0) } }
      let largest = eigenvalues.max() ?? 0
      let tolerance = Double(dimension) * Double.ulpOfOne * largest
      var offset = 0
      for (index, decomposition) in decompositions.enumerated() {
        let m = decomposition.values.count
        let nu = Array(moments.nuPi[offset..<(offset + m)])
        let parts = try blockNumbers(
          decomposition, sigmaPi: piBlocks[index], nu: nu, ridge: ridge, tolerance: tolerance,
          context: context)
        kappa = max(kappa, parts.kappa)
        chiSquare += parts.chiSquare
        outside += parts.outside
        factors.append(parts.factor)
        offset += m
      }
    default:
      let mu = dense(moments.sigmaMu)
      let pi = dense(moments.sigmaPi)
      let decomposition = try decompose(mu)
      eigenvalues = decomposition.values.map { max(0, $0) }
      let largest = eigenvalues.max() ?? 0
      let tolerance = Double(dimension) * Double.ulpOfOne * largest
      let parts = try blockNumbers(
        decomposition, sigmaPi: pi, nu: moments.nuPi, ridge: ridge, tolerance: tolerance,
        context: context)
      kappa = parts.kappa
      chiSquare = parts.chiSquare
      outside = parts.outside
      factors = [parts.factor]
    }

    let largest = eigenvalues.max() ?? 0
    let smallest = eigenvalues.min() ?? 0
    let tolerance = Double(dimension) * Double.ulpOfOne * largest
    let total = eigenvalues.reduce(0, +)
    var entropy = 0.0
    var effectiveDimension = 0.0
    for value in eigenvalues {
      if value > 0 {
        let p = value / total
        entropy -= p * log(p)
      }
      effectiveDimension += value / (value + ridge)
    }
    var report = FeatureReport(
      space: space, step: step, dimension: dimension, lambdaMin: smallest, lambdaMax: largest,
      conditionNumber: smallest > tolerance ? largest / smallest : .infinity,
      effectiveRank: exp(entropy), rank: eigenvalues.filter { $0 > tolerance }.count, ridge: ridge,
      kappa: kappa, restrictedChiSquare: chiSquare,
      targetOutsideDataSpan: piTrace > 0 ? min(1, max(0, outside / piTrace)) : 0,
      effectiveDimension: effectiveDimension)
    if dimension <= spectrumLimit { report.eigenvalues = eigenvalues.sorted(by: >) }
    return (
      report,
      MahalanobisFactor(
        blocks: factors, diagonal: diagonalFactor, threshold: thresholdFactor * effectiveDimension)
    )
  }

  /// kappa, chi-square, the Sigma_pi trace outside the span and W for one dense block.
  private static func blockNumbers(
    _ decomposition: (values: [Double], vectors: Matrix), sigmaPi: Matrix, nu: [Double],
    ridge: Double, tolerance: Double, context: String
  ) throws(CoverageError) -> (kappa: Double, chiSquare: Double, outside: Double, factor: Matrix) {
    let m = decomposition.values.count
    if m == 0 { return (0, 0, 0, Matrix(rows: 0, columns: 0)) }
    var w = decomposition.vectors
    var outside = 0.0
    for j in 0..<m {
      let value = max(0, decomposition.values[j])
      let scale = 1 / (value + ridge).squareRoot()
      if value <= tolerance {
        // v^T Sigma_pi v for an eigenvector outside the data's span.
        let v = decomposition.vectors.column(j)
        var quadratic = 0.0
        for c in 0..<m {
          var row = 0.0
          for r in 0..<m { row += sigmaPi.storage[r + c * m] * v[r] }
          quadratic += v[c] * row
        }
        outside += max(0, quadratic)
      }
      for i in 0..<m { w.storage[i + j * m] *= scale }
    }
    do {
      let whitened = try LinearAlgebra.gemm(w, .transpose, try LinearAlgebra.gemm(sigmaPi, w))
      let kappa = max(0, try LinearAlgebra.symmetricEigen(whitened).values.last ?? 0)
      let z = try LinearAlgebra.gemv(w, .transpose, nu)
      let chiSquare = z.reduce(0) { $0 + $1 * $1 }
      return (kappa, chiSquare, outside, w)
    } catch {
      throw .linearAlgebra(context: "\(context): relative condition number", error: error)
    }
  }

  /// The dense form of a moment (only used for dense and learned spaces).
  static func dense(_ moment: SecondMoment) -> Matrix {
    switch moment {
    case .dense(let matrix): return matrix
    case .diagonal(let values): return Matrix(diagonal: values)
    case .blocks(let blocks):
      let d = blocks.reduce(0) { $0 + $1.rows }
      var result = Matrix(rows: d, columns: d)
      var offset = 0
      for block in blocks {
        for j in 0..<block.columns {
          for i in 0..<block.rows { result[offset + i, offset + j] = block[i, j] }
        }
        offset += block.rows
      }
      return result
    }
  }

  /// sigma_k, the condition number and the normalised diversity of a k x T head matrix.
  static func diversity(
    _ heads: Matrix, step: Int?, warningRatio: Double
  ) throws(CoverageError) -> TaskDiversity {
    let k = heads.rows
    let tasks = heads.columns
    var values: [Double]
    do {
      values = try LinearAlgebra.svd(heads).s
    } catch {
      throw .linearAlgebra(context: "singular values of the head matrix", error: error)
    }
    while values.count < k { values.append(0) }
    let sigma1 = values.first ?? 0
    let sigmaK = values.last ?? 0
    let condition = sigmaK > 0 ? sigma1 / sigmaK : .infinity
    var warning: String?
    if tasks < k {
      warning =
        "only \(tasks) task(s) for rank k = \(k): sigma_k = 0, the heads cannot span the representation (B is not identifiable)"
    } else if sigma1 == 0 || sigmaK / sigma1 < warningRatio {
      warning =
        "sigma_k / sigma_1 = \(CoverageFormat.number(sigma1 > 0 ? sigmaK / sigma1 : 0)) is below \(CoverageFormat.number(warningRatio)): the tasks explore few directions of the representation, so a new task's head may need directions the training tasks never constrained"
    }
    return TaskDiversity(
      step: step, tasks: tasks, rank: k, singularValues: values, sigmaK: sigmaK,
      conditionNumber: condition,
      normalizedDiversity: tasks > 0 ? sigmaK * sigmaK / Double(tasks) : 0,
      warning: warning)
  }
}
