import Foundation

/// The training tasks' reward models, kept with the representation (model.h5 and
/// representation.h5 `/reward_basis`, schemas/model.md) so that `mtfqi-fit` can test whether a
/// new task's reward lies in the span of the training tasks' rewards: the case where a frozen
/// representation is meant to transfer, and the question the acceptance asks
/// (`PolicyComparison` point 4).
///
/// **The reward design x.** Each training task t gets theta_t, the ridge fit of its rewards on
/// x (ridge `relativeRidge` times the mean diagonal of the normalised Gram X^T X / n):
/// - Discrete observations (one-hot or table maps): x(s, a, s') = [psi(s, a), nu(s')], nu(s')
///   the mean of psi(s', a') over the actions (for one-hot psi the indicator of s', scaled), zero
///   when s' is not a state of the space. A reward paid for the state reached (a goal cell
///   entered through a slip) is then exactly in the design. Only when D + E <= `maxDimension`
///   (E = S for one-hot, D for a table); larger maps keep no basis.
/// - Action-block maps (raw, fourier) keep no basis. Their features approximate a reward
///   (CartPole's shaped |x| and |theta| of the state reached, Acrobot's tip height): the fits'
///   residuals are then approximation error, not noise, with tails the noise bound below does
///   not cover. On the CartPole family of tools/cartpole_check.py, x(s, a) = psi(s, a) put a new
///   reward that is exactly 0.25 center + 0.75 upright outside the span on three data seeds out
///   of three (largest residual 1.2-1.4 times the threshold; frozen was the better policy on all
///   three, by 300 steps on one), and x = [psi(s, a), phi(s')] did no better (tools/GYM_RESULTS.md);
///   on Acrobot it put a reward of the second joint's speed, which no training task pays, inside
///   (the fits explained little of their own rewards, so the bound was wide). There `mtfqi-fit`
///   uses the chance test (`PolicyComparison.RewardSpan`). Bases of the older design
///   "state_action" in files written before 2026-12-05 are not used (`read` returns nil).
///
/// **Noise.** sigma^2 = sum_t RSS_t / sum_t (n_t - df_t), df_t = tr((G_t + lambda I)^{-1} G_t)
/// (the ridge fit's degrees of freedom): the reward variation the design does not explain,
/// pooled over the training tasks; 0 for rewards that are a function of (s, a, s').
///
/// **The test** (`test`): the new task's rewards are regressed (least squares) on an intercept
/// and the T training reward models evaluated at its rows, r_i ~ beta_0 + sum_t beta_t
/// x_i^T theta_t. The reward lies outside the span when some row's residual exceeds both
/// `effectShare` of the task's reward range (max - min) and the Bonferroni bound for n
/// studentised residuals, t_{1 - level / (2 n)}(nu) sigma with nu = sum_t (n_t - df_t). On the
/// gymnasium families (tools/GYM_RESULTS.md) the largest residual was at most 0.6% of the range
/// on every task inside the span and at least 27% on every task outside it whose new reward
/// showed in the data.
public struct RewardBasis: Sendable, Equatable {
  public enum Design: String, Sendable {
    case stateActionNextState = "state_action_next_state"
  }

  /// The design older files used on action-block maps (no longer used: see above).
  static let retiredBlockDesign = "state_action"

  /// The largest reward design of a Discrete map that gets a basis (dense Gram and solve).
  public static let maxDimension = 1024
  /// The largest (S A) x S count table of a one-hot design.
  public static let maxOneHotTable = 1 << 20
  /// The ridge of the reward fits, relative to the mean diagonal of the normalised Gram.
  public static let relativeRidge = 1e-6
  /// The share of the new task's reward range a residual must exceed to count (the effect size).
  public static let effectShare = 0.1
  /// The family-wise level of the studentised-residual bound.
  public static let level = 0.01

  public var design: Design
  /// theta_t for each training task (model task order), each of the design's dimension.
  public var thetas: [[Double]]
  /// sigma^2 (NaN when the fits left no degrees of freedom).
  public var noiseVariance: Double
  /// nu = sum_t (n_t - df_t).
  public var noiseDegreesOfFreedom: Double

  public var dimension: Int { thetas.first?.count ?? 0 }

  /// The dimension of the reward design of `map` (nil: the map keeps no basis).
  static func designDimension(_ map: FeatureMap) -> (Design, Int)? {
    switch map.structure {
    case .pairs(let states, let actions):
      if let table = map.pairMatrix() {
        return 2 * table.columns <= maxDimension ? (.stateActionNextState, 2 * table.columns) : nil
      }
      // One-hot: solved through the S x S Schur complement, with the (S A) x S pair-to-next
      // count table held dense.
      let pairs = states * actions
      return states <= maxDimension && pairs * states <= maxOneHotTable
        ? (.stateActionNextState, pairs + states) : nil
    case .actionBlocks:
      return nil
    }
  }

  // MARK: Fitting (training tasks)

  /// The basis of the training `tasks`; `problems` are their regression problems on all their
  /// rows (one per task, `RegressionData`, or none: per-step problems hold a step's rows only),
  /// whose (pair, next state) groups save a pass over the rows. nil when the map keeps no
  /// basis (`designDimension`).
  static func fit(_ tasks: [TaskTransitions], problems: [RegressionData], featureMap: FeatureMap)
    throws(FQIError) -> RewardBasis?
  {
    guard let (design, _) = designDimension(featureMap) else { return nil }
    var fits: [TaskFit] = []
    do {
      switch design {
      case .stateActionNextState:
        guard let pairDesign = PairDesign(featureMap) else { return nil }
        // The problems' (pair, next state) groups, when they cover the task's rows.
        let groups = problems.count == tasks.count ? problems.map(\.pairGroups) : []
        fits = try Parallel.map(tasks.count) { (t) throws(LinearAlgebraError) in
          try pairDesign.fit(tasks[t], groups: groups.isEmpty ? nil : groups[t])
        }
      }
    } catch {
      throw .linearAlgebra(context: "training reward models", error: error)
    }
    let residual = fits.reduce(0) { $0 + $1.residualSum }
    let freedom = fits.reduce(0) { $0 + $1.degreesOfFreedom }
    return RewardBasis(
      design: design, thetas: fits.map(\.theta),
      noiseVariance: freedom >= 1 ? residual / freedom : .nan, noiseDegreesOfFreedom: freedom)
  }

  struct TaskFit: Sendable {
    var theta: [Double]
    /// RSS (not normalised).
    var residualSum: Double
    /// n - df.
    var degreesOfFreedom: Double
  }

  /// The ridge fit from normalised moments: G = X^T X / n, c = X^T r / n, the mean square of
  /// r, with `solve(c, lambda)` = (G + lambda I)^{-1} c and `trace(lambda)` = tr((G + lambda
  /// I)^{-1} G).
  static func ridgeFit(
    n: Int, meanDiagonal: Double, cross: [Double], meanSquare: Double,
    solve: ([Double], Double) throws(LinearAlgebraError) -> [Double],
    quadratic: ([Double]) throws(LinearAlgebraError) -> Double,
    trace: (Double) throws(LinearAlgebraError) -> Double
  ) throws(LinearAlgebraError) -> TaskFit {
    let ridge = relativeRidge * max(meanDiagonal, Double.leastNormalMagnitude)
    let theta = try solve(cross, ridge)
    var dot = 0.0
    for i in 0..<theta.count { dot += theta[i] * cross[i] }
    let meanResidual = max(0, meanSquare - 2 * dot + (try quadratic(theta)))
    let df = try trace(ridge)
    return TaskFit(
      theta: theta, residualSum: meanResidual * Double(n),
      degreesOfFreedom: max(0, Double(n) - df))
  }

  /// tr((G + lambda I)^{-1} G) of a dense symmetric G.
  static func trace(_ g: Matrix, ridge: Double) throws(LinearAlgebraError) -> Double {
    let solved = try LinearAlgebra.ridgeSolve(g, g, ridge: ridge)
    var sum = 0.0
    for i in 0..<g.rows { sum += solved.storage[i + i * g.rows] }
    return sum
  }

  /// The design x(s, a, s') = [psi(s, a), nu(s')] of a Discrete map.
  struct PairDesign: Sendable {
    let states: Int
    let actions: Int
    let stateStart: Int64
    let actionStart: Int64
    /// (S * A) x D, nil for one-hot.
    let table: Matrix?
    /// S x D, the mean of the table's rows of each state (nil for one-hot).
    let nextTable: Matrix?

    init?(_ map: FeatureMap) {
      guard case .pairs(let states, let actions) = map.structure else { return nil }
      self.states = states
      self.actions = actions
      stateStart = map.stateStart
      actionStart = map.actionStart
      table = map.pairMatrix()
      if let table {
        var next = Matrix(rows: states, columns: table.columns)
        for j in 0..<table.columns {
          for s in 0..<states {
            var sum = 0.0
            for a in 0..<actions { sum += table.storage[(s * actions + a) + j * table.rows] }
            next.storage[s + j * states] = sum / Double(actions)
          }
        }
        nextTable = next
      } else {
        nextTable = nil
      }
    }

    var base: Int { table?.columns ?? states * actions }
    var dimension: Int { base + (table?.columns ?? states) }

    /// The pair s * A + a of a row and its next state (nil when it is not a state of the space).
    func indices(_ task: TaskTransitions, row: Int) -> (pair: Int, next: Int?) {
      let s = Int(task.observations[row]) - Int(stateStart)
      let a = Int(task.actions[row] - actionStart)
      let value = task.nextObservations[row]
      var next: Int?
      if value.isFinite, value == value.rounded() {
        let candidate = Int(value) - Int(stateStart)
        if candidate >= 0 && candidate < states { next = candidate }
      }
      return (s * actions + a, next)
    }

    /// x(row)^T theta.
    func value(_ theta: [Double], pair: Int, next: Int?) -> Double {
      guard let table, let nextTable else {
        return theta[pair] + (next.map { theta[base + $0] } ?? 0)
      }
      var sum = 0.0
      for j in 0..<table.columns {
        sum += table.storage[pair + j * table.rows] * theta[j]
        if let next { sum += nextTable.storage[next + j * states] * theta[base + j] }
      }
      return sum
    }

    /// The ridge fit on all the task's rows. `groups` (optional) are the task's rows grouped
    /// by (pair, next state) for FQI (`PairGroups`): the one-hot moments then come from the
    /// groups of bootstrapping rows, and only terminal rows (whose next state the groups do not
    /// keep) are read one by one.
    func fit(_ task: TaskTransitions, groups: PairGroups? = nil) throws(LinearAlgebraError)
      -> TaskFit
    {
      table == nil ? try oneHotFit(task, groups: groups) : try tableFit(task)
    }

    /// One-hot: G = [[P, C], [C^T, N]] / n with P and N the diagonal pair and next-state counts
    /// and C the (pair, next state) counts. Eliminating the pair block (diagonal) leaves the
    /// S x S Schur complement M = N + lambda - C^T (P + lambda)^{-1} C:
    ///   y = M^{-1} (c_s - C^T (P + lambda)^{-1} c_p),  x = (P + lambda)^{-1} (c_p - C y),
    ///   tr((G + lambda)^{-1}) = sum 1 / (P + lambda) + tr(M^{-1}) + tr(M^{-1} C^T (P + lambda)^{-2} C).
    func oneHotFit(_ task: TaskTransitions, groups: PairGroups?) throws(LinearAlgebraError)
      -> TaskFit
    {
      let d = base
      let n = task.count
      let scale = 1 / Double(max(n, 1))
      var pairCounts = [Double](repeating: 0, count: d)
      var pairRewards = [Double](repeating: 0, count: d)
      var nextCounts = [Double](repeating: 0, count: states)
      var nextRewards = [Double](repeating: 0, count: states)
      var table = Matrix(rows: d, columns: states)
      var squares = 0.0
      func add(pair: Int, next: Int?, count: Double, sum: Double) {
        pairCounts[pair] += count * scale
        pairRewards[pair] += sum * scale
        if let next {
          nextCounts[next] += count * scale
          nextRewards[next] += sum * scale
          table.storage[pair + next * d] += count * scale
        }
      }
      if let groups {
        for g in 0..<groups.count where groups.nextStates[g] >= 0 {
          add(
            pair: Int(groups.pairs[g]), next: Int(groups.nextStates[g]), count: groups.counts[g],
            sum: groups.rewardSums[g])
          squares += groups.rewardSquares[g]
        }
      }
      for row in 0..<n where groups == nil || task.terminations[row] != 0 {
        let (pair, next) = indices(task, row: row)
        let r = task.rewards[row]
        squares += r * r
        add(pair: pair, next: next, count: 1, sum: r)
      }
      let meanDiagonal =
        (pairCounts.reduce(0, +) + nextCounts.reduce(0, +)) / Double(max(dimension, 1))
      let ridge = RewardBasis.relativeRidge * max(meanDiagonal, Double.leastNormalMagnitude)
      let inverse = pairCounts.map { 1 / ($0 + ridge) }
      // C^T (P + lambda)^{-1/2}, then M and C^T (P + lambda)^{-1} c_p.
      var half = table
      var twice = table
      for s in 0..<states {
        for p in 0..<d {
          half.storage[p + s * d] *= inverse[p].squareRoot()
          twice.storage[p + s * d] *= inverse[p]
        }
      }
      var schur = Matrix(rows: states, columns: states)
      try LinearAlgebra.syrk(half, alpha: -1, into: &schur, beta: 0)
      for s in 0..<states { schur.storage[s + s * states] += nextCounts[s] + ridge }
      let reduced = try LinearAlgebra.gemv(
        table, .transpose, zip(pairRewards, inverse).map { $0 * $1 })
      var rhs = Matrix(rows: states, columns: states + 1)
      for s in 0..<states {
        rhs.storage[s] = nextRewards[s] - reduced[s]
        rhs.storage[s + (s + 1) * states] = 1
      }
      // One Cholesky solve: y, then M^{-1} (for the trace).
      let solved = try LinearAlgebra.choleskySolve(schur, rhs)
      let y = Array(solved.storage[0..<states])
      let cy = try LinearAlgebra.gemv(table, y)
      let x = (0..<d).map { (pairRewards[$0] - cy[$0]) * inverse[$0] }
      // Residual: mean r^2 - 2 theta^T c + theta^T G theta (G without the ridge).
      var dot = 0.0
      var quadratic = 0.0
      for p in 0..<d {
        dot += x[p] * pairRewards[p]
        quadratic += pairCounts[p] * x[p] * x[p] + 2 * x[p] * cy[p]
      }
      for s in 0..<states {
        dot += y[s] * nextRewards[s]
        quadratic += nextCounts[s] * y[s] * y[s]
      }
      let meanResidual = max(0, squares * scale - 2 * dot + quadratic)
      // tr((G + lambda)^{-1}): the pair block's diagonal plus the Schur terms.
      var traceInverse = inverse.reduce(0, +)
      let cross = LinearAlgebra.gram(twice)
      for i in 0..<states {
        for j in 0..<states {
          let mInverse = solved.storage[i + (j + 1) * states]
          if i == j { traceInverse += mInverse }
          traceInverse += mInverse * cross.storage[j + i * states]
        }
      }
      let df = Double(dimension) - ridge * traceInverse
      return TaskFit(
        theta: x + y, residualSum: meanResidual * Double(n),
        degreesOfFreedom: max(0, Double(n) - df))
    }

    /// A table: rows are grouped by (pair, next state), then the dense (2 D) x (2 D) fit.
    func tableFit(_ task: TaskTransitions) throws(LinearAlgebraError) -> TaskFit {
      let dx = dimension
      var groups: [Int: (count: Double, sum: Double)] = [:]
      var squares = 0.0
      for row in 0..<task.count {
        let (pair, next) = indices(task, row: row)
        let key = pair * (states + 1) + (next.map { $0 + 1 } ?? 0)
        let r = task.rewards[row]
        groups[key, default: (0, 0)].count += 1
        groups[key, default: (0, 0)].sum += r
        squares += r * r
      }
      var gram = Matrix(rows: dx, columns: dx)
      var cross = [Double](repeating: 0, count: dx)
      var x = [Double](repeating: 0, count: dx)
      for key in groups.keys.sorted() {
        guard let group = groups[key] else { continue }
        let pair = key / (states + 1)
        let slot = key % (states + 1)
        let next: Int? = slot == 0 ? nil : slot - 1
        fill(&x, pair: pair, next: next)
        for j in 0..<dx where x[j] != 0 {
          cross[j] += x[j] * group.sum
          let weighted = group.count * x[j]
          for i in 0..<dx { gram.storage[i + j * dx] += weighted * x[i] }
        }
      }
      let n = task.count
      let scale = 1 / Double(max(n, 1))
      for i in gram.storage.indices { gram.storage[i] *= scale }
      for i in cross.indices { cross[i] *= scale }
      var diagonal = 0.0
      for i in 0..<dx { diagonal += gram.storage[i + i * dx] }
      let g = gram
      return try RewardBasis.ridgeFit(
        n: n, meanDiagonal: diagonal / Double(max(dx, 1)), cross: cross,
        meanSquare: squares * scale,
        solve: { (c, ridge) throws(LinearAlgebraError) in
          try LinearAlgebra.ridgeSolve(g, Matrix(rows: dx, columns: 1, columnMajor: c), ridge: ridge)
            .storage
        },
        quadratic: { (v) throws(LinearAlgebraError) in
          let gv = try LinearAlgebra.gemv(g, v)
          var sum = 0.0
          for i in 0..<v.count { sum += v[i] * gv[i] }
          return sum
        },
        trace: { (ridge) throws(LinearAlgebraError) in try RewardBasis.trace(g, ridge: ridge) })
    }

    func fill(_ x: inout [Double], pair: Int, next: Int?) {
      guard let table, let nextTable else { return }
      for j in 0..<table.columns {
        x[j] = table.storage[pair + j * table.rows]
        x[base + j] = next.map { nextTable.storage[$0 + j * states] } ?? 0
      }
    }
  }

  // MARK: The test (a new task)

  /// What the test found on a new task (`test`).
  public struct SpanTest: Sendable, Equatable {
    /// 1 - RSS / TSS of the regression on the training reward models.
    public var explained: Double
    /// max_i |r_i - fitted_i|.
    public var largestResidual: Double
    /// max(`effectShare` x range, Bonferroni bound x sigma).
    public var threshold: Double

    public var outsideSpan: Bool { largestResidual > threshold }
  }

  /// The rewards of the new task's rows (`task`: its fitted rows) and the T training reward
  /// models at those rows.
  func columns(_ task: TaskTransitions, map: FeatureMap) -> (rewards: [Double], columns: [[Double]])
  {
    switch design {
    case .stateActionNextState:
      guard let pairDesign = PairDesign(map) else { return (task.rewards, []) }
      let rows = (0..<task.count).map { pairDesign.indices(task, row: $0) }
      let columns = thetas.map { theta in
        rows.map { pairDesign.value(theta, pair: $0.pair, next: $0.next) }
      }
      return (task.rewards, columns)
    }
  }

  /// The test on the new task's fitted rows. nil when it cannot say anything: the rewards are
  /// all equal, the noise is unknown, or the basis does not fit the map.
  func test(_ task: TaskTransitions, map: FeatureMap) throws(FQIError)
    -> SpanTest?
  {
    guard let (design, dimension) = Self.designDimension(map), design == self.design,
      dimension == self.dimension, noiseVariance.isFinite, noiseDegreesOfFreedom >= 1
    else { return nil }
    do {
      let (rewards, columns) = self.columns(task, map: map)
      return try Self.test(
        rewards: rewards, columns: columns, noiseVariance: noiseVariance,
        degreesOfFreedom: noiseDegreesOfFreedom)
    } catch {
      throw .linearAlgebra(context: "reward span test", error: error)
    }
  }

  /// The test on `rewards` against the reward models `columns` (one per training task, each
  /// with a value per row).
  static func test(
    rewards: [Double], columns: [[Double]], noiseVariance: Double, degreesOfFreedom: Double
  ) throws(LinearAlgebraError) -> SpanTest? {
    let n = rewards.count
    guard n >= 2, let low = rewards.min(), let high = rewards.max(), high > low else { return nil }
    var design = Matrix(rows: n, columns: columns.count + 1, repeating: 1)
    for (j, column) in columns.enumerated() {
      for i in 0..<n { design.storage[i + (j + 1) * n] = column[i] }
    }
    let solution = try LinearAlgebra.leastSquares(
      design, Matrix(rows: n, columns: 1, columnMajor: rewards))
    let fitted = try LinearAlgebra.gemv(design, solution.storage)
    let mean = rewards.reduce(0, +) / Double(n)
    var residualSquares = 0.0
    var totalSquares = 0.0
    var largest = 0.0
    for i in 0..<n {
      let e = rewards[i] - fitted[i]
      residualSquares += e * e
      totalSquares += (rewards[i] - mean) * (rewards[i] - mean)
      largest = max(largest, abs(e))
    }
    let bound =
      noiseVariance > 0
      ? PolicyComparison.studentQuantile(
        1 - level / (2 * Double(n)), degreesOfFreedom: degreesOfFreedom) * noiseVariance.squareRoot()
      : 0
    return SpanTest(
      explained: totalSquares > 0 ? 1 - residualSquares / totalSquares : 1,
      largestResidual: largest, threshold: max(effectShare * (high - low), bound))
  }

  // MARK: HDF5

  /// Writes `/reward_basis` into `group`'s file root (`theta` (T, dx) and the attributes).
  func write(_ root: HDF5Group) throws(HDF5Error) {
    let group = try root.createGroup("reward_basis")
    try group.writeDataset("theta", thetas.flatMap { $0 }, shape: [thetas.count, dimension])
    try group.setAttribute("design", design.rawValue)
    try group.setAttribute("relative_ridge", Self.relativeRidge)
    try group.setAttribute("noise_variance", noiseVariance)
    try group.setAttribute("noise_degrees_of_freedom", noiseDegreesOfFreedom)
  }

  /// Reads `/reward_basis` when the file has one (nil otherwise: files written before it
  /// existed, or a map too large for one), checked against `map` and the `tasks` count.
  static func read(_ file: HDF5File, map: FeatureMap, tasks: Int?, context: String) throws
    -> RewardBasis?
  {
    guard try file.exists("/reward_basis") else { return nil }
    let group = try file.group("/reward_basis")
    let designText = try group.stringAttribute("design")
    if designText == retiredBlockDesign { return nil }
    guard let design = Design(rawValue: designText) else {
      throw FQIError.input("\(context): /reward_basis: unknown design '\(designText)'")
    }
    guard let (expected, dimension) = designDimension(map), expected == design else {
      throw FQIError.input(
        "\(context): /reward_basis: design '\(designText)' does not fit the feature map")
    }
    let dataset = try group.dataset("theta")
    let count = dataset.shape.first ?? 0
    if let tasks {
      try dataset.requireShape([tasks, dimension], "tasks x reward design dimension")
    } else {
      try dataset.requireShape([max(count, 1), dimension], "tasks x reward design dimension")
    }
    let values = try dataset.readFinite()
    let variance = try group.scalarAttribute("noise_variance", as: Double.self)
    let freedom = try group.scalarAttribute("noise_degrees_of_freedom", as: Double.self)
    guard variance.isNaN || variance >= 0, freedom >= 0, freedom.isFinite else {
      throw FQIError.input(
        "\(context): /reward_basis: noise_variance \(variance) or noise_degrees_of_freedom \(freedom) out of range")
    }
    return RewardBasis(
      design: design,
      thetas: (0..<count).map { Array(values[($0 * dimension)..<(($0 + 1) * dimension)]) },
      noiseVariance: variance, noiseDegreesOfFreedom: freedom)
  }
}
