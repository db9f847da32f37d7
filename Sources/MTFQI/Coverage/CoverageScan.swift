import Foundation

/// One row block of a task, read from the store.
struct RowBlock {
  var range: Range<Int>
  var actions: [Int64]
  var terminations: [UInt8]
  var steps: [Int64]
  var behaviorProbabilities: [Double]?
  /// Discrete observations: state indices (value - start), validated; next states of rows that
  /// do not bootstrap are -1.
  var states: [Int32] = []
  var nextStates: [Int32] = []
  /// Row-major observation values (Box; also Discrete values for block feature maps).
  var observations: [Double] = []
  var nextObservations: [Double] = []

  var count: Int { range.count }
}

/// Streams the rows of the store's tasks in blocks and fills `ScopeAccumulator`s: one pass
/// over the columns, nothing kept per row. Several tasks may be scanned at once from different
/// threads: every HDF5 call goes through `HDF5Lock` (libhdf5 is built thread-safe but runs every
/// call under its own global lock anyway, and the shared `StoreReader` and its HDF5 objects are
/// not synchronised), and the rest only reads the scan's fields.
struct CoverageScan: @unchecked Sendable {
  let reader: StoreReader
  let map: FeatureMap
  /// Discrete observations: S and the space's start.
  let states: Int?
  let stateStart: Int64
  let actions: Int
  let actionStart: Int64
  /// Finite horizon H (per-step counts), nil when discounted.
  let horizon: Int?
  let blockRows: Int
  let progress: CoverageProgress?

  var isDiscrete: Bool { states != nil }

  var needsObservationValues: Bool {
    if case .actionBlocks = map.structure { return true }
    return false
  }

  // MARK: Reading

  func column(_ task: String, _ name: String) throws(CoverageError) -> HDF5Dataset {
    do {
      return try reader.dataset(task: task, column: name)
    } catch {
      throw .input(error.description)
    }
  }

  /// `body` holding the HDF5 lock.
  private func locked<T>(_ body: () throws(CoverageError) -> T) throws(CoverageError) -> T {
    try HDF5Lock.withLock(body)
  }

  /// Reads rows `range` of every column the analysis needs, validating actions, states and
  /// behaviour probabilities. `withBehavior`: read behavior_probs.
  func readBlock(
    task: String, range: Range<Int>, withBehavior: Bool, observationsNeeded: Bool
  ) throws(CoverageError) -> RowBlock {
    let path = reader.path
    func read<T: HDF5Element>(_ name: String, _ type: T.Type) throws(CoverageError) -> [T] {
      try locked { () throws(CoverageError) -> [T] in
        do {
          return try column(task, name).readRows(range, as: type)
        } catch let error as CoverageError {
          throw error
        } catch {
          throw .input(
            "\(path): /tasks/\(task)/\(name) rows \(range.lowerBound)..<\(range.upperBound): \(error)"
          )
        }
      }
    }
    var block = RowBlock(
      range: range, actions: try read(StoreLayout.actions, Int64.self),
      terminations: try read(StoreLayout.terminations, UInt8.self),
      steps: try read(StoreLayout.step, Int64.self),
      behaviorProbabilities: withBehavior
        ? try read(StoreLayout.behaviorProbabilities, Double.self) : nil)
    for (i, action) in block.actions.enumerated()
    where action < actionStart || action >= actionStart + Int64(actions) {
      throw .input(
        "\(path): /tasks/\(task)/actions row \(range.lowerBound + i): action \(action) is outside the action space Discrete(\(actions)\(actionStart == 0 ? "" : ", start=\(actionStart)"))"
      )
    }
    if let probabilities = block.behaviorProbabilities {
      for (i, p) in probabilities.enumerated() where !(p > 0 && p <= 1 + 1e-12) {
        throw .input(
          "\(path): /tasks/\(task)/behavior_probs row \(range.lowerBound + i): expected the behaviour policy's probability of the logged action, in (0, 1], found \(p)"
        )
      }
    }
    if let states {
      let observations = try read(StoreLayout.observations, Int64.self)
      let next = try read(StoreLayout.nextObservations, Int64.self)
      block.states = [Int32](repeating: 0, count: range.count)
      block.nextStates = [Int32](repeating: -1, count: range.count)
      for i in 0..<range.count {
        let s = observations[i] - stateStart
        guard s >= 0 && s < Int64(states) else {
          throw .input(
            "\(path): /tasks/\(task)/observations row \(range.lowerBound + i): state \(observations[i]) is outside the observation space Discrete(\(states)\(stateStart == 0 ? "" : ", start=\(stateStart)"))"
          )
        }
        block.states[i] = Int32(s)
        if block.terminations[i] == 0 {
          let t = next[i] - stateStart
          guard t >= 0 && t < Int64(states) else {
            throw .input(
              "\(path): /tasks/\(task)/next_observations row \(range.lowerBound + i): state \(next[i]) is outside the observation space Discrete(\(states)) on a row that bootstraps (terminated = 0)"
            )
          }
          block.nextStates[i] = Int32(t)
        }
      }
      if observationsNeeded {
        block.observations = observations.map { Double($0) }
        block.nextObservations = next.map { Double($0) }
      }
    } else {
      let width = map.observationDimension
      block.observations = try read(StoreLayout.observations, Double.self)
      block.nextObservations = try read(StoreLayout.nextObservations, Double.self)
      guard block.observations.count == range.count * width,
        block.nextObservations.count == range.count * width
      else {
        throw .input(
          "\(path): /tasks/\(task): observations do not have \(width) values per row (the observation space's width)"
        )
      }
      for i in 0..<range.count {
        for j in 0..<width {
          if !block.observations[i * width + j].isFinite {
            throw .input(
              "\(path): /tasks/\(task)/observations row \(range.lowerBound + i), coordinate \(j): expected a finite number, found \(block.observations[i * width + j])"
            )
          }
          if block.terminations[i] == 0 && !block.nextObservations[i * width + j].isFinite {
            throw .input(
              "\(path): /tasks/\(task)/next_observations row \(range.lowerBound + i), coordinate \(j): expected a finite number on a row that bootstraps (terminated = 0), found \(block.nextObservations[i * width + j])"
            )
          }
        }
      }
    }
    return block
  }

  /// The row count of a task.
  func rowCount(_ task: String) throws(CoverageError) -> Int {
    try locked { () throws(CoverageError) -> Int in try column(task, StoreLayout.actions).rows }
  }

  // MARK: The pass

  /// Pass 1 over one task: counts (Discrete observations), block second moments (block
  /// feature maps) and importance weights from the store's behavior_probs.
  func scan(task: String, policy: TargetPolicy, hasBehavior: Bool) throws(CoverageError)
    -> ScopeAccumulator
  {
    let n = try rowCount(task)
    var accumulator = ScopeAccumulator(names: [task])
    if let states {
      accumulator.discrete = DiscreteCounts(states: states, actions: actions, horizon: horizon)
    }
    if case .actionBlocks(_, let m) = map.structure {
      accumulator.blocks = BlockSums(
        actions: actions, blockSize: m, uniformTarget: policy.isUniform)
    }
    if hasBehavior { accumulator.storeImportance = ImportanceSums(source: "behavior_probs") }
    var start = 0
    while start < n {
      let range = start..<min(n, start + blockRows)
      let block = try readBlock(
        task: task, range: range, withBehavior: hasBehavior,
        observationsNeeded: needsObservationValues)
      try accumulate(block, policy: policy, into: &accumulator, task: task)
      start = range.upperBound
      progress?.update(task: task, done: start, total: n)
    }
    accumulator.discrete?.finish()
    accumulator.blocks?.finish()
    return accumulator
  }

  /// Adds one row block to a task's sums: row counts, then the discrete counts (Discrete
  /// observations) and the block second moments (block feature maps).
  func accumulate(
    _ block: RowBlock, policy: TargetPolicy, into accumulator: inout ScopeAccumulator, task: String
  ) throws(CoverageError) {
    let n = block.count
    accumulator.rows += n
    var bootstrapping: [Int] = []
    bootstrapping.reserveCapacity(n)
    for i in 0..<n where block.terminations[i] == 0 { bootstrapping.append(i) }
    accumulator.bootstrappingRows += bootstrapping.count
    for i in 0..<n where block.steps[i] == 0 { accumulator.startRows += 1 }

    // Greedy actions of continuous states (current and next), when the policy needs them.
    var phi: Matrix?
    var phiNext: Matrix?
    if case .actionBlocks = map.structure {
      phi = map.stateFeatures(block.observations, rows: n)
      let width = map.observationDimension
      var next = [Double](repeating: 0, count: bootstrapping.count * width)
      for (row, i) in bootstrapping.enumerated() {
        for j in 0..<width { next[row * width + j] = block.nextObservations[i * width + j] }
      }
      phiNext = map.stateFeatures(next, rows: bootstrapping.count)
    }
    var greedyCurrent: [Int32] = []
    var greedyNext: [Int32] = []
    if case .greedyLinear = policy.kind, let phi, let phiNext {
      do {
        greedyCurrent = try policy.greedyActions(
          phi: phi, stepIndices: block.steps.map { policy.stepIndex($0) })
        greedyNext = try policy.greedyActions(
          phi: phiNext, stepIndices: bootstrapping.map { policy.stepIndex(block.steps[$0] + 1) })
      } catch {
        throw .linearAlgebra(context: "\(task): greedy actions", error: error)
      }
    }
    let own = OwnProbability(
      policy: policy, actions: actions, block: block, greedyCurrent: greedyCurrent)

    if var importance = accumulator.storeImportance, let probabilities = block.behaviorProbabilities
    {
      for i in 0..<n {
        let a = Int(block.actions[i] - actionStart)
        importance.add(own.of(i, a) / probabilities[i])
      }
      accumulator.storeImportance = importance
    }
    if var counts = accumulator.discrete {
      countDiscrete(block, policy: policy, own: own, into: &counts)
      accumulator.discrete = counts
    }
    if var sums = accumulator.blocks, let phi, let phiNext {
      do {
        try addBlockMoments(
          block, policy: policy, phi: phi, phiNext: phiNext, bootstrapping: bootstrapping,
          greedyNext: greedyNext, into: &sums)
      } catch {
        throw .linearAlgebra(context: "\(task): feature second moments", error: error)
      }
      accumulator.blocks = sums
    }
  }

  /// pi_h(a | s) of a row's own action.
  struct OwnProbability {
    let policy: TargetPolicy
    let actions: Int
    let block: RowBlock
    /// Greedy actions of the rows' states (linear greedy policies only).
    let greedyCurrent: [Int32]

    func of(_ i: Int, _ a: Int) -> Double {
      switch policy.kind {
      case .uniform: return 1 / Double(actions)
      case .greedyTable:
        return policy.probability(
          state: Int(block.states[i]), action: a, step: policy.stepIndex(block.steps[i]))
      case .greedyLinear: return Int(greedyCurrent[i]) == a ? 1 : 0
      }
    }
  }

  /// The discrete half: pair, start, step, terminal and transition counts, and the target
  /// policy's mass on the next states' pairs.
  func countDiscrete(
    _ block: RowBlock, policy: TargetPolicy, own: OwnProbability, into counts: inout DiscreteCounts
  ) {
    let uniformMass = 1 / Double(actions)
    for i in 0..<block.count {
      let s = Int(block.states[i])
      let a = Int(block.actions[i] - actionStart)
      let pair = s * actions + a
      counts.pairCounts[pair] += 1
      let probability = own.of(i, a)
      counts.policySum[pair] += probability
      counts.policySquares[pair] += probability * probability
      if probability > counts.policyMaximum[pair] { counts.policyMaximum[pair] = probability }
      if block.steps[i] == 0 { counts.startCounts[s] += 1 }
      if let horizon, block.steps[i] >= 0, block.steps[i] < Int64(horizon) {
        counts.stepPairCounts[Int(block.steps[i])][pair] += 1
      }
      if block.terminations[i] != 0 {
        counts.terminalCounts[pair] += 1
        continue
      }
      let next = Int(block.nextStates[i])
      counts.nextStateCounts[next] += 1
      counts.transitionKeys.append(pair * counts.states + next)
      switch policy.kind {
      case .uniform:
        for b in 0..<actions { counts.targetMass[next * actions + b] += uniformMass }
      case .greedyTable:
        let target = policy.tableAction(state: next, step: policy.stepIndex(block.steps[i] + 1))
        counts.targetMass[next * actions + target] += 1
      case .greedyLinear:
        break
      }
    }
  }

  /// The block-moment half: per action, the data's second moments (rows of that action) and
  /// the target's (next states, weighted by pi), and the target's feature means nu.
  func addBlockMoments(
    _ block: RowBlock, policy: TargetPolicy, phi: Matrix, phiNext: Matrix, bootstrapping: [Int],
    greedyNext: [Int32], into sums: inout BlockSums
  ) throws(LinearAlgebraError) {
    var rowsOfAction = [[Int]](repeating: [], count: actions)
    for i in 0..<block.count { rowsOfAction[Int(block.actions[i] - actionStart)].append(i) }
    for a in 0..<actions where !rowsOfAction[a].isEmpty {
      try LinearAlgebra.syrkUpper(
        CoverageMath.gatherRows(phi, rowsOfAction[a]), alpha: 1, into: &sums.mu[a], beta: 1)
    }
    let m = sums.blockSize
    let rows = phiNext.rows
    if var shared = sums.piShared {
      try LinearAlgebra.syrkUpper(phiNext, alpha: 1, into: &shared, beta: 1)
      sums.piShared = shared
      for j in 0..<m {
        var total = 0.0
        for r in 0..<rows { total += phiNext.storage[r + j * rows] }
        for a in 0..<actions { sums.nu[a][j] += total / Double(actions) }
      }
      return
    }
    var targetRows = [[Int]](repeating: [], count: actions)
    for (row, i) in bootstrapping.enumerated() {
      let target: Int
      if case .greedyTable = policy.kind {
        target = policy.tableAction(
          state: Int(block.nextStates[i]), step: policy.stepIndex(block.steps[i] + 1))
      } else {
        target = Int(greedyNext[row])
      }
      targetRows[target].append(row)
    }
    for a in 0..<actions where !targetRows[a].isEmpty {
      try LinearAlgebra.syrkUpper(
        CoverageMath.gatherRows(phiNext, targetRows[a]), alpha: 1, into: &sums.pi[a], beta: 1)
      for j in 0..<m {
        var total = 0.0
        for r in targetRows[a] { total += phiNext.storage[r + j * rows] }
        sums.nu[a][j] += total
      }
    }
  }

  // MARK: The bootstrap pass (continuous observations)

  /// Counts of the Mahalanobis bootstrap test for one task, under the task's own factor and
  /// the pooled one.
  struct BootstrapCounts: Sendable {
    var unsupported = 0.0
    var pooledUnsupported = 0.0
    var dataAbove = 0
    var pooledDataAbove = 0
    var learnedUnsupported = 0.0
    var pooledLearnedUnsupported = 0.0
    /// Bootstrapping rows and rows tested.
    var tested = 0
    var dataTested = 0
  }

  /// The learned-space part of the bootstrap test: B (D x k) and the factors.
  struct LearnedFactors: Sendable {
    var b: Matrix
    var task: MahalanobisFactor
    /// nil when the task is the whole pooled scope.
    var pooled: MahalanobisFactor?
  }

  /// Pass 2, continuous observations with a block feature map: for every bootstrapping row and
  /// every action a with pi(a|s') > 0, whether ||psi(s', a)||^2 in (Sigma_mu + ridge)^-1 exceeds
  /// the threshold (weighted by pi), and the same for the data's own (s, a). `pooledFactor` nil
  /// means the task is the whole pooled scope (one task), whose counts are then the task's.
  ///
  /// Only every `stride`-th bootstrapping row and every `dataStride`-th row are tested (1 = all);
  /// `BootstrapCounts` says how many were.
  func bootstrapPass(
    task: String, policy: TargetPolicy, factor: MahalanobisFactor, pooledFactor: MahalanobisFactor?,
    learned: LearnedFactors?, stride: Int, dataStride: Int
  ) throws(CoverageError) -> BootstrapCounts {
    guard case .actionBlocks(_, let m) = map.structure else { return BootstrapCounts() }
    let n = try rowCount(task)
    var counts = BootstrapCounts()
    // All actions' factors side by side, m x (A m): one gemm tests every action of a row.
    func stacked(_ blocks: [Matrix]) -> Matrix {
      Matrix(rows: m, columns: m * blocks.count, columnMajor: blocks.flatMap(\.storage))
    }
    let ownStack = stacked(factor.blocks)
    let pooledStack = pooledFactor.map { stacked($0.blocks) }
    let learnedBlocks: [Matrix] =
      learned.map { l in (0..<actions).map { CoverageMath.rowRange(l.b, ($0 * m)..<(($0 + 1) * m)) }
      } ?? []

    /// Squared norms of the column segments of z (segment a = columns a w ..< (a + 1) w), row by
    /// row: result[a][r].
    func segmentNorms(_ z: Matrix, width w: Int) -> [[Double]] {
      let rows = z.rows
      let segments = w == 0 ? 0 : z.columns / w
      var result = [[Double]](repeating: [Double](repeating: 0, count: rows), count: segments)
      z.storage.withUnsafeBufferPointer { values in
        for a in 0..<segments {
          result[a].withUnsafeMutableBufferPointer { out in
            for j in (a * w)..<((a + 1) * w) {
              let base = j * rows
              for r in 0..<rows { out[r] += values[base + r] * values[base + r] }
            }
          }
        }
      }
      return result
    }

    var start = 0
    var bootstrappingSeen = 0
    while start < n {
      let range = start..<min(n, start + blockRows)
      let block = try readBlock(
        task: task, range: range, withBehavior: false, observationsNeeded: true)
      let rows = block.count
      var bootstrapping: [Int] = []
      for i in 0..<rows where block.terminations[i] == 0 {
        if bootstrappingSeen % stride == 0 { bootstrapping.append(i) }
        bootstrappingSeen += 1
      }
      counts.tested += bootstrapping.count
      let width = map.observationDimension
      var next = [Double](repeating: 0, count: bootstrapping.count * width)
      for (row, i) in bootstrapping.enumerated() {
        for j in 0..<width { next[row * width + j] = block.nextObservations[i * width + j] }
      }
      let phiNext = map.stateFeatures(next, rows: bootstrapping.count)
      do {
        // Target weights pi(a | s'): 1/A (uniform), or 1 for the greedy action.
        var greedy: [Int32] = []
        if !policy.isUniform {
          greedy = try policy.greedyActions(
            phi: phiNext, stepIndices: bootstrapping.map { policy.stepIndex(block.steps[$0] + 1) })
        }
        let uniformWeight = 1 / Double(actions)
        func weight(_ a: Int, _ row: Int) -> Double {
          greedy.isEmpty ? uniformWeight : (Int(greedy[row]) == a ? 1 : 0)
        }
        func unsupported(_ stack: Matrix, threshold: Double) throws(LinearAlgebraError) -> Double {
          let norms = segmentNorms(try LinearAlgebra.gemm(phiNext, stack), width: m)
          var total = 0.0
          for a in 0..<actions {
            for row in 0..<bootstrapping.count where norms[a][row] > threshold {
              total += weight(a, row)
            }
          }
          return total
        }
        if !bootstrapping.isEmpty {
          counts.unsupported += try unsupported(ownStack, threshold: factor.threshold)
          if let pooledStack, let pooledFactor {
            counts.pooledUnsupported += try unsupported(
              pooledStack, threshold: pooledFactor.threshold)
          }
          if let learned {
            // B_a^T phi(s') for every action, then the k x k learned factor(s).
            for a in 0..<actions {
              let y = try LinearAlgebra.gemm(phiNext, learnedBlocks[a])
              let own = segmentNorms(
                try LinearAlgebra.gemm(y, learned.task.blocks[0]), width: y.columns)[0]
              for row in 0..<bootstrapping.count where own[row] > learned.task.threshold {
                counts.learnedUnsupported += weight(a, row)
              }
              if let pooled = learned.pooled {
                let norms = segmentNorms(
                  try LinearAlgebra.gemm(y, pooled.blocks[0]), width: y.columns)[0]
                for row in 0..<bootstrapping.count where norms[row] > pooled.threshold {
                  counts.pooledLearnedUnsupported += weight(a, row)
                }
              }
            }
          }
        }
        // Calibration: the data's own (s, a), grouped by action.
        var selected: [Int] = []
        for i in 0..<rows where (range.lowerBound + i) % dataStride == 0 { selected.append(i) }
        counts.dataTested += selected.count
        var observations = [Double](repeating: 0, count: selected.count * width)
        for (row, i) in selected.enumerated() {
          for j in 0..<width { observations[row * width + j] = block.observations[i * width + j] }
        }
        let phi = map.stateFeatures(observations, rows: selected.count)
        var rowsOfAction = [[Int]](repeating: [], count: actions)
        for (row, i) in selected.enumerated() {
          rowsOfAction[Int(block.actions[i] - actionStart)].append(row)
        }
        for a in 0..<actions where !rowsOfAction[a].isEmpty {
          let x = CoverageMath.gatherRows(phi, rowsOfAction[a])
          let own = segmentNorms(try LinearAlgebra.gemm(x, factor.blocks[a]), width: m)[0]
          for value in own where value > factor.threshold { counts.dataAbove += 1 }
          if let pooledFactor {
            let pooled = segmentNorms(try LinearAlgebra.gemm(x, pooledFactor.blocks[a]), width: m)[
              0]
            for value in pooled where value > pooledFactor.threshold { counts.pooledDataAbove += 1 }
          }
        }
      } catch {
        throw .linearAlgebra(context: "\(task): bootstrap support test", error: error)
      }
      start = range.upperBound
      progress?.update(task: task + " (bootstrap test)", done: start, total: n)
    }
    if pooledFactor == nil {
      counts.pooledUnsupported = counts.unsupported
      counts.pooledDataAbove = counts.dataAbove
    }
    if learned?.pooled == nil {
      counts.pooledLearnedUnsupported = counts.learnedUnsupported
    }
    return counts
  }
}

/// A one-line progress display on stderr (rows, not bytes), at most five redraws a second.
final class CoverageProgress: @unchecked Sendable {
  private var lastDraw = 0.0
  private let start = Date()
  private var drawn = false
  /// Tasks scanned in parallel report from their threads.
  private let lock = NSLock()

  func update(task: String, done: Int, total: Int) {
    lock.lock()
    defer { lock.unlock() }
    let now = Date().timeIntervalSince(start)
    guard now - lastDraw >= 0.2 || done == total else { return }
    lastDraw = now
    let line = "\rmtfqi-coverage: \(task): \(done) of \(total) rows"
    FileHandle.standardError.write(Data((line + "\u{1B}[K").utf8))
    drawn = true
  }

  func finish() {
    lock.lock()
    defer { lock.unlock() }
    if drawn { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    drawn = false
  }
}
