import Foundation

/// The least-squares problem of one regression problem p at one iteration: G_p (fixed),
/// c_p = Psi_p^T y_p / n_p and s_p = y_p^T y_p / n_p.
struct ProblemStatistics: Sendable {
  var gram: BlockGram
  var cross: [Double]
  var squares: Double
}

/// The joint rank-k ridge least squares of multitask FQI, solved by alternating ridge least
/// squares (ALS) from a spectral initialisation.
///
/// Objective (the MEAN convention: each problem's squared error is averaged over its own rows,
/// problems are summed, the ridge is absolute):
///
///     J(B, W) = sum_p [ (1/n_p) ||y_p - Psi_p B w_p||^2 ] + ridge ||B||_F^2 + headRidge sum_p ||w_p||^2
///             = sum_p [ s_p - 2 theta_p^T c_p + theta_p^T G_p theta_p ] + ...,   theta_p = B w_p.
///
/// Shapes: B is D x k, W is k x P (column p = w_p), both column-major `Matrix`.
/// - W-step: (B^T G_p B + headRidge I) w_p = B^T c_p, one k x k Cholesky per problem.
/// - B-step: (sum_p (w_p w_p^T) (x) G_p + ridge I) vec(B) = vec(sum_p c_p w_p^T). It separates
///   over the blocks of the Gram structure: one k x k system per feature for one-hot features
///   (all assembled with two gemm calls and solved by `batchedRidgeCholeskySolve`), one
///   (m k) x (m k) system per dense block of size m otherwise: Cholesky below order
///   `iterativeOrder`, preconditioned CG (`KroneckerCG`, to a relative residual of 1e-14,
///   warm-started) from it on, with Cholesky as the fallback.
/// - A sweep is a W-step then a B-step (J never increases); sweeps stop at a certified
///   stationary point: relative gradient norm at most `tolerance` and relative change of J at
///   most `tolerance` (see `alternate`), or after `maxSweeps`.
///
/// The ridge on theta (`weightRidge`, lambda; `FQIParameters.RidgeForm.theta`): the objective
/// gains lambda sum_p ||B w_p||^2, the single-task ridge on each problem's theta_p = B w_p, in
/// place of (or with) the ridges on B and W. Since theta^T G theta + lambda ||theta||^2 =
/// theta^T (G + lambda I) theta, it is the problem above with every G_p replaced by
/// G_p + lambda I (`penalised`), solved by the same steps; at k >= min(P, D) its minimiser is
/// every problem's single-task ridge solution exactly, whatever lambda.
///
/// Every solve is Float64 through LAPACK on the calling thread. Deterministic.
struct RankKSolver {
  let rank: Int
  var ridge: Double
  var headRidge: Double
  let tolerance: Double
  let maxSweeps: Int
  /// The ridge on every theta_p = B w_p (0: none).
  var weightRidge = 0.0

  init(
    rank: Int, ridge: Double, headRidge: Double, tolerance: Double, maxSweeps: Int,
    weightRidge: Double = 0
  ) {
    self.rank = rank
    self.ridge = ridge
    self.headRidge = headRidge
    self.tolerance = tolerance
    self.maxSweeps = maxSweeps
    self.weightRidge = weightRidge
  }

  /// The ridge named in messages and logs: the ridge on theta when there is one, else on B.
  var nominalRidge: Double { weightRidge > 0 ? weightRidge : ridge }

  /// The problems with the ridge on theta folded into their Grams (G_p + weightRidge I), and
  /// the solver that treats them as plain problems; `self` and `problems` without one.
  func penalised(_ problems: [ProblemStatistics]) -> (RankKSolver, [ProblemStatistics]) {
    guard weightRidge > 0 else { return (self, problems) }
    var plain = self
    plain.weightRidge = 0
    return (
      plain,
      problems.map {
        ProblemStatistics(
          gram: $0.gram.shifted(by: weightRidge), cross: $0.cross, squares: $0.squares)
      }
    )
  }

  /// Multiplies every ridge by `factor`; a ridge that is 0 becomes `floor` (the factor ridges
  /// only when there is no ridge on theta).
  mutating func strengthen(by factor: Double, floor: Double) {
    if weightRidge > 0 {
      weightRidge *= factor
      ridge *= factor
      headRidge *= factor
      return
    }
    ridge = ridge > 0 ? ridge * factor : floor
    headRidge = headRidge > 0 ? headRidge * factor : floor
  }

  struct Fit {
    var b: Matrix
    var w: Matrix
    var sweeps: Int
    var objective: Double
    /// The certificate at (B, W): see `relativeGradient`.
    var relativeGradient = Double.nan
    /// |J - J_previous sweep| / J.
    var objectiveChange = Double.nan
  }

  // MARK: Spectral initialisation

  /// The balanced spectral start B0 = U_k diag(sqrt(s_1), ..., sqrt(s_k)) from the thin SVD
  /// Theta = U diag(s) V^T of the per-problem ridge solutions (D x P); signs by
  /// `LinearAlgebra.svd`'s rule (Q does not depend on them).
  ///
  /// When Theta has rank r < k (fewer problems than k: only allowed with
  /// `allow_unidentifiable`), the basis is completed deterministically: the unit vectors
  /// e_0, e_1, ... in index order, each orthogonalised twice against the basis so far (classical
  /// Gram-Schmidt), are appended when their residual norm exceeds 0.5 (then 1e-8 in a second
  /// pass), until there are k columns; each added column is scaled by 1e-2 times the scale of
  /// the column before it. Rank r counts the singular values above
  /// max(D, P) * ulpOfOne * s_1. Throws `.guardrail` when D < k.
  static func spectralInitialisation(_ thetas: Matrix, rank k: Int) throws(FQIError) -> Matrix {
    let d = thetas.rows
    guard d >= k else {
      throw .guardrail("the rank k = \(k) exceeds the feature dimension D = \(d)")
    }
    let decomposition: (u: Matrix, s: [Double], vt: Matrix)
    do {
      decomposition = try LinearAlgebra.svd(thetas)
    } catch {
      throw .linearAlgebra(context: "spectral initialisation", error: error)
    }
    let largest = decomposition.s.first ?? 0
    let cutoff = Double(max(thetas.rows, thetas.columns)) * Double.ulpOfOne * largest
    let r = min(k, decomposition.s.prefix { $0 > cutoff && largest > 0 }.count)
    var basis = decomposition.u.columns(0..<r).storage
    var columns = r
    // Balanced start: B0 = U_k diag(sqrt(s)), so that W0 = diag(sqrt(s)) V^T and the ridges on
    // B and W are already balanced (ALS would otherwise spend many sweeps trading scale
    // between them, moving Q by ~ ridge / G a little at a time).
    var scales = (0..<r).map { decomposition.s[$0].squareRoot() }
    for threshold in [0.5, 1e-8] where columns < k {
      for j in 0..<d where columns < k {
        var v = [Double](repeating: 0, count: d)
        v[j] = 1
        for _ in 0..<2 {
          for c in 0..<columns {
            var dot = 0.0
            for i in 0..<d { dot += basis[i + c * d] * v[i] }
            for i in 0..<d { v[i] -= dot * basis[i + c * d] }
          }
        }
        var norm = 0.0
        for value in v { norm += value * value }
        norm = norm.squareRoot()
        if norm > threshold {
          basis += v.map { $0 / norm }
          scales.append((scales.last ?? 1) * 1e-2)
          columns += 1
        }
      }
    }
    for c in 0..<k {
      for i in 0..<d { basis[i + c * d] *= scales[c] }
    }
    return Matrix(rows: d, columns: k, columnMajor: basis)
  }

  /// Single-task ridge solutions (G_p + (ridge + weightRidge) I)^-1 c_p as the columns of a
  /// D x P matrix.
  func ridgeSolutions(_ problems: [ProblemStatistics]) throws(FQIError) -> Matrix {
    guard weightRidge == 0 else {
      let (plain, shifted) = penalised(problems)
      return try plain.ridgeSolutions(shifted)
    }
    guard let first = problems.first else { return Matrix(rows: 0, columns: 0) }
    var thetas = Matrix(rows: first.gram.dimension, columns: problems.count)
    for (p, problem) in problems.enumerated() {
      let theta: [Double]
      do {
        theta = try problem.gram.ridgeSolve(problem.cross, ridge: ridge)
      } catch {
        throw .linearAlgebra(context: "single-task ridge solution", error: error)
      }
      for i in 0..<theta.count { thetas.storage[i + p * thetas.rows] = theta[i] }
    }
    return thetas
  }

  // MARK: ALS

  /// Heads for a fixed B: w_p = (B^T G_p B + headRidge I)^-1 B^T c_p, as a k x P matrix.
  func heads(_ b: Matrix, _ problems: [ProblemStatistics]) throws(LinearAlgebraError) -> Matrix {
    let k = b.columns
    var w = Matrix(rows: k, columns: problems.count)
    for (p, problem) in problems.enumerated() {
      let system = try problem.gram.projected(b)
      let rhs = try LinearAlgebra.gemv(b, .transpose, problem.cross)
      let solution = try LinearAlgebra.ridgeSolve(
        system, Matrix(rows: k, columns: 1, columnMajor: rhs), ridge: headRidge)
      for j in 0..<k { w.storage[j + p * k] = solution.storage[j] }
    }
    return w
  }

  /// Dense blocks whose system has at least this order (m k) are first tried with
  /// `KroneckerCG` (warm-started from `start`), and solved directly when it does not converge.
  static let iterativeOrder = 1024

  /// B for fixed heads (the B-step), block by block. `start` (the current B) warm-starts the
  /// iterative solve of large dense blocks.
  func representation(_ w: Matrix, _ problems: [ProblemStatistics], start: Matrix? = nil)
    throws(LinearAlgebraError) -> Matrix
  {
    guard let first = problems.first else { return Matrix(rows: 0, columns: w.rows) }
    let k = w.rows
    let count = problems.count
    let d = first.gram.dimension
    // Outer products w_p w_p^T as the columns of a k^2 x P matrix.
    var outer = Matrix(rows: k * k, columns: count)
    for p in 0..<count {
      for l in 0..<k {
        for j in 0..<k {
          outer.storage[j + l * k + p * k * k] = w.storage[j + p * k] * w.storage[l + p * k]
        }
      }
    }
    var crossMatrix = Matrix(rows: d, columns: count)
    for (p, problem) in problems.enumerated() {
      for i in 0..<d { crossMatrix.storage[i + p * d] = problem.cross[i] }
    }
    switch first.gram.structure {
    case .diagonal:
      var grams = Matrix(rows: d, columns: count)
      for (p, problem) in problems.enumerated() {
        for i in 0..<d { grams.storage[i + p * d] = problem.gram.diagonal[i] }
      }
      // Column i of `systems` is vec(sum_p g_p[i] w_p w_p^T); column i of `rhs` is
      // sum_p c_p[i] w_p.
      var systems = try LinearAlgebra.gemm(outer, grams, .transpose).storage
      var rhs = try LinearAlgebra.gemm(w, crossMatrix, .transpose).storage
      try LinearAlgebra.batchedRidgeCholeskySolve(
        order: k, count: d, matrices: &systems, rightHandSides: &rhs, ridge: ridge)
      var b = Matrix(rows: d, columns: k)
      for i in 0..<d {
        for j in 0..<k { b.storage[i + j * d] = rhs[j + i * k] }
      }
      return b
    case .blocks:
      var b = Matrix(rows: d, columns: k)
      var offset = 0
      for blockIndex in first.gram.blocks.indices {
        let m = first.gram.blocks[blockIndex].rows
        let size = m * k
        var rhs = Matrix(rows: size, columns: 1)
        for (p, problem) in problems.enumerated() {
          for j in 0..<k {
            let weight = w.storage[j + p * k]
            for i in 0..<m { rhs.storage[j * m + i] += problem.cross[offset + i] * weight }
          }
        }
        if size >= Self.iterativeOrder,
          let solution = try KroneckerCG.solve(
            grams: problems.map { $0.gram.blocks[blockIndex] }, w: w,
            rhs: Matrix(rows: m, columns: k, columnMajor: rhs.storage), ridge: ridge,
            start: start.map { $0.rows(offset..<(offset + m)) })
        {
          for j in 0..<k {
            for i in 0..<m { b.storage[offset + i + j * d] = solution.storage[i + j * m] }
          }
          offset += m
          continue
        }
        // system[(j m + i), (l m + q)] = sum_p w_p[j] w_p[l] G_p[i, q]: one dgemm gives every
        // (j, l) sub-block at once, S = [vec G_1 ... vec G_P] outer^T (m^2 x k^2, column
        // j + l k is vec of sum_p w_p[j] w_p[l] G_p), then each sub-block column is copied into
        // place.
        var grams = Matrix(rows: m * m, columns: count)
        for (p, problem) in problems.enumerated() {
          grams.storage.replaceSubrange(
            (p * m * m)..<((p + 1) * m * m), with: problem.gram.blocks[blockIndex].storage)
        }
        let blocks = try LinearAlgebra.gemm(grams, outer, .transpose)
        var system = Matrix(rows: size, columns: size)
        system.storage.withUnsafeMutableBufferPointer { target in
          blocks.storage.withUnsafeBufferPointer { source in
            for l in 0..<k {
              for j in 0..<k {
                let block = (j + l * k) * m * m
                for q in 0..<m {
                  let into = (l * m + q) * size + j * m
                  for i in 0..<m { target[into + i] = source[block + q * m + i] }
                }
              }
            }
          }
        }
        let solution = try LinearAlgebra.ridgeSolve(system, rhs, ridge: ridge)
        for j in 0..<k {
          for i in 0..<m { b.storage[offset + i + j * d] = solution.storage[j * m + i] }
        }
        offset += m
      }
      return b
    }
  }

  /// theta_p = B w_p for every problem (D x P).
  static func thetas(_ b: Matrix, _ w: Matrix) throws(LinearAlgebraError) -> Matrix {
    try LinearAlgebra.gemm(b, w)
  }

  /// The per-problem mean squared residuals s_p - 2 theta_p^T c_p + theta_p^T G_p theta_p
  /// (clamped at 0 against rounding) and the full objective J.
  func objective(_ b: Matrix, _ w: Matrix, _ problems: [ProblemStatistics])
    throws(LinearAlgebraError) -> (total: Double, residuals: [Double])
  {
    guard weightRidge == 0 else {
      // The residuals without the ridge on theta; the total with it.
      let (plain, shifted) = penalised(problems)
      let total = try plain.objective(b, w, shifted).total
      var unpenalised = plain
      unpenalised.ridge = 0
      unpenalised.headRidge = 0
      return (total, try unpenalised.objective(b, w, problems).residuals)
    }
    let thetas = try Self.thetas(b, w)
    var residuals: [Double] = []
    var total = 0.0
    for (p, problem) in problems.enumerated() {
      let theta = thetas.column(p)
      var dot = 0.0
      for i in 0..<theta.count { dot += theta[i] * problem.cross[i] }
      let value = problem.squares - 2 * dot + (try problem.gram.quadratic(theta))
      residuals.append(max(0, value))
      total += value
    }
    var bNorm = 0.0
    for value in b.storage { bNorm += value * value }
    var wNorm = 0.0
    for value in w.storage { wNorm += value * value }
    return (total + ridge * bNorm + headRidge * wNorm, residuals)
  }

  /// The optimality certificate of (B, W): the gradient of J,
  ///
  ///     dJ/dB = 2 sum_p (G_p B w_p - c_p) w_p^T + 2 ridge B,
  ///     dJ/dw_p = 2 B^T (G_p B w_p - c_p) + 2 headRidge w_p,
  ///
  /// in Frobenius norm relative to the norm of its data part (2 sum_p c_p w_p^T, 2 B^T c_p),
  /// which has the same units; 0 when both vanish.
  func relativeGradient(_ b: Matrix, _ w: Matrix, _ problems: [ProblemStatistics])
    throws(LinearAlgebraError) -> Double
  {
    guard weightRidge == 0 else {
      let (plain, shifted) = penalised(problems)
      return try plain.relativeGradient(b, w, shifted)
    }
    let k = b.columns
    let d = b.rows
    var gradientB = [Double](repeating: 0, count: d * k)
    var dataB = [Double](repeating: 0, count: d * k)
    var gradientNorm = 0.0
    var dataNorm = 0.0
    for (p, problem) in problems.enumerated() {
      let wp = Array(w.storage[(p * k)..<((p + 1) * k)])
      let theta = try LinearAlgebra.gemv(b, wp)
      let g = try problem.gram.multiply(theta)
      let residual = zip(g, problem.cross).map { $0 - $1 }
      for j in 0..<k {
        for i in 0..<d {
          gradientB[i + j * d] += 2 * residual[i] * wp[j]
          dataB[i + j * d] += 2 * problem.cross[i] * wp[j]
        }
      }
      let gw = try LinearAlgebra.gemv(b, .transpose, residual)
      let cw = try LinearAlgebra.gemv(b, .transpose, problem.cross)
      for j in 0..<k {
        let value = 2 * gw[j] + 2 * headRidge * wp[j]
        gradientNorm += value * value
        dataNorm += 4 * cw[j] * cw[j]
      }
    }
    for i in 0..<(d * k) {
      let value = gradientB[i] + 2 * ridge * b.storage[i]
      gradientNorm += value * value
      dataNorm += dataB[i] * dataB[i]
    }
    return dataNorm > 0 ? (gradientNorm / dataNorm).squareRoot() : gradientNorm.squareRoot()
  }

  /// The same product B W with the smallest ridge terms: with B W = U S V^T (thin SVD, top k),
  /// B = U S^(1/2) (headRidge / ridge)^(1/4) and W = (ridge / headRidge)^(1/4) S^(1/2) V^T
  /// minimise ridge ||B||^2 + headRidge ||W||^2 over all factorisations of B W (the minimum is
  /// 2 sqrt(ridge headRidge) ||B W||_*). Plain ALS spends most of its sweeps trading scale
  /// between B and W at almost constant J when the ridges are small (an ill-conditioned valley
  /// of the objective); this step removes that valley at the cost of one SVD of the D x P
  /// product per sweep. J never increases (the data fit is unchanged). Unchanged when a
  /// ridge is 0 (then every factorisation has the same objective).
  func balanced(_ b: Matrix, _ w: Matrix) throws(LinearAlgebraError) -> (Matrix, Matrix) {
    guard ridge > 0, headRidge > 0 else { return (b, w) }
    let k = b.columns
    let product = try Self.thetas(b, w)
    let svd = try LinearAlgebra.svd(product)
    // Fewer singular values than k (P or D < k): B W has rank at most r < k, so the remaining
    // columns of B and rows of W are set to 0 (the product is unchanged, the ridge terms drop;
    // those columns are not identifiable and stay 0).
    let r = min(k, svd.s.count)
    let ratio = (headRidge / ridge).squareRoot().squareRoot()
    var newB = Matrix(rows: b.rows, columns: k)
    var newW = Matrix(rows: k, columns: w.columns)
    for j in 0..<r {
      let root = svd.s[j].squareRoot()
      for i in 0..<b.rows { newB.storage[i + j * b.rows] = svd.u.storage[i + j * svd.u.rows] * root * ratio }
      for p in 0..<w.columns {
        newW.storage[j + p * k] = svd.vt.storage[j + p * svd.vt.rows] * root / ratio
      }
    }
    return (newB, newW)
  }

  /// ALS from `start` (the spectral initialisation, or the previous iteration's B: the warm
  /// start) to a certified stationary point: sweeps stop after sweep s >= 2 when the relative
  /// gradient (`relativeGradient`) is at most `tolerance` and J changed by at most
  /// `tolerance` (relative) in the last sweep; or after `maxSweeps`. The fit reports both
  /// numbers. A non-finite value stops the sweeps; the caller checks the returned fit.
  /// Throws `.linearAlgebra` when a system is not positive definite.
  func alternate(from start: Matrix, _ problems: [ProblemStatistics]) throws(FQIError) -> Fit {
    guard weightRidge == 0 else {
      let (plain, shifted) = penalised(problems)
      return try plain.alternate(from: start, shifted)
    }
    var b = start
    var w = Matrix(rows: rank, columns: problems.count)
    var sweeps = 0
    var objectiveValue = Double.nan
    var previousObjective = Double.nan
    var gradient = Double.nan
    var change = Double.nan
    do {
      while sweeps < maxSweeps {
        sweeps += 1
        w = try heads(b, problems)
        b = try representation(w, problems, start: b)
        if b.storage.contains(where: { !$0.isFinite }) || w.storage.contains(where: { !$0.isFinite })
        {
          break
        }
        (b, w) = try balanced(b, w)
        objectiveValue = try objective(b, w, problems).total
        gradient = try relativeGradient(b, w, problems)
        change =
          previousObjective.isFinite
          ? abs(previousObjective - objectiveValue) / max(abs(objectiveValue), .leastNormalMagnitude)
          : .infinity
        previousObjective = objectiveValue
        if sweeps >= 2 && gradient <= tolerance && change <= tolerance { break }
      }
      objectiveValue = try objective(b, w, problems).total
    } catch {
      throw .linearAlgebra(context: "alternating least squares (sweep \(sweeps))", error: error)
    }
    return Fit(
      b: b, w: w, sweeps: sweeps, objective: objectiveValue, relativeGradient: gradient,
      objectiveChange: change)
  }
}
