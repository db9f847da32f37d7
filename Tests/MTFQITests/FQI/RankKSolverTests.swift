import Foundation
import Numerics
import Testing

@testable import MTFQI

@Suite("FQI: the rank-k alternating least squares")
struct RankKSolverTests {
  /// A random D x k matrix with N(0, 1) entries from a seeded stream.
  static func gaussian(_ rows: Int, _ columns: Int, seed: UInt64) -> Matrix {
    var generator = Xoshiro256StarStar(seed: seed)
    return Matrix(
      rows: rows, columns: columns,
      columnMajor: (0..<(rows * columns)).map { _ in generator.nextNormal() })
  }

  /// Problems whose targets are exactly rank k: c_p = G_p B* w*_p, s_p = theta^T G_p theta.
  static func exactProblems(dense: Bool, d: Int, k: Int, count: Int, seed: UInt64) throws -> (
    [ProblemStatistics], Matrix
  ) {
    let b = gaussian(d, k, seed: seed)
    let w = gaussian(k, count, seed: seed + 1)
    var problems: [ProblemStatistics] = []
    for p in 0..<count {
      let gram: BlockGram
      if dense {
        // Two dense SPD blocks: X^T X / rows with X Gaussian.
        let half = d / 2
        let x1 = gaussian(3 * half, half, seed: seed + 10 + UInt64(p))
        let x2 = gaussian(3 * (d - half), d - half, seed: seed + 100 + UInt64(p))
        var g1 = LinearAlgebra.gram(x1)
        var g2 = LinearAlgebra.gram(x2)
        LinearAlgebra.scale(&g1, by: 1 / Double(3 * half))
        LinearAlgebra.scale(&g2, by: 1 / Double(3 * (d - half)))
        gram = BlockGram(blocks: [g1, g2])
      } else {
        var generator = Xoshiro256StarStar(seed: seed + 1000 + UInt64(p))
        gram = BlockGram(diagonal: (0..<d).map { _ in 0.1 + generator.nextUniform() })
      }
      let theta = try LinearAlgebra.gemv(b, w.column(p))
      problems.append(
        ProblemStatistics(
          gram: gram, cross: try gram.multiply(theta), squares: try gram.quadratic(theta)))
    }
    return (problems, try LinearAlgebra.gemm(b, w))
  }

  @Test("ALS from the spectral start recovers exact rank-k targets", arguments: [false, true])
  func recoversExactRankK(dense: Bool) throws {
    let (problems, truth) = try Self.exactProblems(dense: dense, d: 10, k: 3, count: 6, seed: 3)
    let solver = RankKSolver(
      rank: 3, ridge: 1e-12, headRidge: 1e-12, tolerance: 1e-14, maxSweeps: 500)
    let start = try RankKSolver.spectralInitialisation(try solver.ridgeSolutions(problems), rank: 3)
    let fit = try solver.alternate(from: start, problems)
    let thetas = try RankKSolver.thetas(fit.b, fit.w)
    let error =
      (0..<truth.storage.count).map { abs(thetas.storage[$0] - truth.storage[$0]) }.max() ?? 0
    #expect(error < 1e-6, "max |theta - theta*| = \(error) after \(fit.sweeps) sweeps")
    #expect(fit.objective < 1e-9)
  }

  @Test("The objective never increases over the sweeps")
  func objectiveIsMonotone() throws {
    var (problems, _) = try Self.exactProblems(dense: false, d: 12, k: 2, count: 5, seed: 11)
    // Noise that is not rank 2 makes the fit non-trivial.
    var generator = Xoshiro256StarStar(seed: 99)
    for p in problems.indices {
      problems[p].cross = problems[p].cross.map { $0 + 0.3 * generator.nextNormal() }
      problems[p].squares += 10
    }
    let solver = RankKSolver(rank: 2, ridge: 1e-3, headRidge: 1e-3, tolerance: 0, maxSweeps: 1)
    var b = try RankKSolver.spectralInitialisation(try solver.ridgeSolutions(problems), rank: 2)
    var previous = Double.infinity
    for _ in 0..<30 {
      let fit = try solver.alternate(from: b, problems)
      #expect(fit.objective <= previous * (1 + 1e-12))
      previous = fit.objective
      b = fit.b
    }
  }

  @Test("The diagonal B-step equals the general block B-step with 1 x 1 blocks")
  func diagonalMatchesBlocks() throws {
    let (problems, _) = try Self.exactProblems(dense: false, d: 9, k: 3, count: 4, seed: 21)
    let asBlocks = problems.map { problem in
      ProblemStatistics(
        gram: BlockGram(
          blocks: problem.gram.diagonal.map { Matrix(rows: 1, columns: 1, repeating: $0) }),
        cross: problem.cross, squares: problem.squares)
    }
    let solver = RankKSolver(rank: 3, ridge: 0.01, headRidge: 0.02, tolerance: 1e-12, maxSweeps: 3)
    let w = Self.gaussian(3, 4, seed: 5)
    let diagonal = try solver.representation(w, problems)
    let blocks = try solver.representation(w, asBlocks)
    for (x, y) in zip(diagonal.storage, blocks.storage) {
      #expect(x.isApproximatelyEqual(to: y, relativeTolerance: 1e-12, norm: \.magnitude))
    }
    let b = Self.gaussian(9, 3, seed: 6)
    let headsA = try solver.heads(b, problems)
    let headsB = try solver.heads(b, asBlocks)
    for (x, y) in zip(headsA.storage, headsB.storage) {
      #expect(x.isApproximatelyEqual(to: y, relativeTolerance: 1e-12))
    }
  }

  @Test("Batched k x k Cholesky solves equal one solve each; a singular system is named")
  func batchedSolve() throws {
    let k = 4
    var matrices: [Double] = []
    var rhs: [Double] = []
    var expected: [Double] = []
    for index in 0..<5 {
      let x = Self.gaussian(6, k, seed: 40 + UInt64(index))
      let a = LinearAlgebra.gram(x)
      let b = Self.gaussian(k, 1, seed: 60 + UInt64(index))
      matrices += a.storage
      rhs += b.storage
      expected += try LinearAlgebra.ridgeSolve(a, b, ridge: 0.5).storage
    }
    try LinearAlgebra.batchedRidgeCholeskySolve(
      order: k, count: 5, matrices: &matrices, rightHandSides: &rhs, ridge: 0.5)
    for (x, y) in zip(rhs, expected) {
      #expect(x.isApproximatelyEqual(to: y, relativeTolerance: 1e-12))
    }
    var singular = [Double](repeating: 0, count: 2 * k * k)
    var right = [Double](repeating: 1, count: 2 * k)
    for i in 0..<k { singular[i + i * k] = 1 }
    expectError(LinearAlgebraError.self, case: "notPositiveDefinite") {
      try LinearAlgebra.batchedRidgeCholeskySolve(
        order: k, count: 2, matrices: &singular, rightHandSides: &right, ridge: 0)
    }
  }
}

@Suite("FQI: the iterative B-step of large dense blocks")
struct KroneckerCGTests {
  @Test("Preconditioned CG equals the dense Cholesky B-step to ~1e-12 (order m k = 640)")
  func matchesDirectSolve() throws {
    let (problems, _) = try RankKSolverTests.exactProblems(
      dense: true, d: 80, k: 16, count: 6, seed: 31)
    // Targets that are not exactly representable, so the solve is not trivial.
    var noisy = problems
    var generator = Xoshiro256StarStar(seed: 77)
    for p in noisy.indices {
      noisy[p].cross = noisy[p].cross.map { $0 + 0.1 * generator.nextNormal() }
    }
    let solver = RankKSolver(rank: 16, ridge: 1e-3, headRidge: 1e-3, tolerance: 0, maxSweeps: 1)
    let w = RankKSolverTests.gaussian(16, 6, seed: 8)
    // Blocks of order 640 are below `iterativeOrder`: the B-step solves them by Cholesky.
    let direct = try solver.representation(w, noisy)
    // The same system solved densely here, block by block, and by CG.
    var expected = Matrix(rows: 80, columns: 16)
    var conjugate = Matrix(rows: 80, columns: 16)
    var offset = 0
    for (index, block) in noisy[0].gram.blocks.enumerated() {
      let m = block.rows
      let size = m * 16
      var system = Matrix(rows: size, columns: size)
      var rhs = Matrix(rows: size, columns: 1)
      for (p, problem) in noisy.enumerated() {
        let g = problem.gram.blocks[index]
        for l in 0..<16 {
          for j in 0..<16 {
            let c = w[j, p] * w[l, p]
            for q in 0..<m { for i in 0..<m { system[j * m + i, l * m + q] += c * g[i, q] } }
          }
        }
        for j in 0..<16 {
          for i in 0..<m { rhs[j * m + i, 0] += problem.cross[offset + i] * w[j, p] }
        }
      }
      let x = try LinearAlgebra.ridgeSolve(system, rhs, ridge: 1e-3)
      let iterative = try KroneckerCG.solve(
        grams: noisy.map { $0.gram.blocks[index] }, w: w,
        rhs: Matrix(rows: m, columns: 16, columnMajor: rhs.storage), ridge: 1e-3, start: nil)
      #expect(iterative != nil, "CG converges (no fallback) on block \(index)")
      for j in 0..<16 {
        for i in 0..<m {
          expected[offset + i, j] = x[j * m + i, 0]
          conjugate[offset + i, j] = iterative?[i, j] ?? .nan
        }
      }
      offset += m
    }
    let scale = expected.storage.reduce(0) { max($0, $1.magnitude) }
    for (name, solution) in [("B-step", direct), ("CG", conjugate)] {
      let worst = zip(solution.storage, expected.storage).reduce(0) {
        max($0, ($1.0 - $1.1).magnitude.isNaN ? .infinity : ($1.0 - $1.1).magnitude)
      }
      #expect(worst <= 1e-10 * scale, "\(name): largest difference \(worst) (scale \(scale))")
    }
  }
}
