/// One logged transition of a synthetic task.
public struct SyntheticTransition: Sendable, Equatable {
  /// Episode id: the row index for i.i.d. rows, the episode counter for episodes.
  public var episode: Int
  /// The step h within the episode (finite horizon: the value step; i.i.d. discounted: 0).
  public var step: Int
  public var state: Int
  public var action: Int
  /// The mean reward r_t(s,a) plus N(0, noise^2) noise.
  public var reward: Double
  public var nextState: Int
  /// True terminal: no bootstrap (finite horizon, h = H - 1).
  public var terminated: Bool
  /// Cut without a terminal: bootstrap from the next state (i.i.d. discounted rows, the last
  /// row of a discounted episode, the last row of a log whose last episode is cut short).
  public var truncated: Bool
  /// pi_b(a|s), exactly the value in truth.h5's behaviour policy.
  public var behaviorProbability: Double
}

/// The alias tables shared by every task's sampler: the start distribution, the mixture
/// weights phi*(s,a) and the k next-state distributions nu_j. A next state is drawn as
/// j ~ phi*(s,a), s' ~ nu_j, which is exactly P(.|s,a) = sum_j phi*_j(s,a) nu_j.
public struct SyntheticSamplingTables: Sendable {
  let start: AliasTable
  /// Table (s * A + a) draws j with probability phi*_j(s,a).
  let mixture: AliasTableSet
  /// Table j draws s' with probability nu_j(s').
  let nextState: AliasTableSet

  public init(family: LowRankMDPFamily) {
    start = AliasTable(weights: family.startDistribution)
    mixture = AliasTableSet(weights: family.phi, outcomes: family.rank)
    nextState = AliasTableSet(weights: family.nu, outcomes: family.states)
  }
}

/// Draws the log of one task, row by row, from the task's own stream
/// (`SyntheticStream.trainingLog` or `.heldOutLog`, index = task index), so a task's log depends
/// only on the seed, the shared structure, the task and its number of rows.
///
/// Per row, in this order: (finite-horizon i.i.d.: the step h, uniform); the state (from rho0 at
/// the start of an episode or for every i.i.d. row, otherwise the previous next state); the
/// action (u < epsilon: uniform, else the favourite); the mixture component j and the next
/// state; the reward noise (none when noise = 0).
public struct TransitionSampler: Sendable {
  private let tables: SyntheticSamplingTables
  private let rewards: [Double]
  private let favoriteAction: [Int]
  private let behaviorPolicy: [Double]
  private var generator: Xoshiro256StarStar
  /// The number of rows this log has.
  public let count: Int
  /// Rows produced so far.
  public private(set) var produced = 0
  private var episode = 0
  private var step = 0
  private var state = 0
  private let horizon: Int?
  private let episodeLength: Int
  private let iid: Bool
  private let epsilon: Double
  private let noise: Double
  private let actions: Int

  public init(
    family: LowRankMDPFamily, tables: SyntheticSamplingTables, task: SyntheticTask, count: Int
  ) {
    self.tables = tables
    self.favoriteAction = family.favoriteAction
    self.behaviorPolicy = family.behaviorPolicy
    self.rewards = task.rewards
    self.count = count
    generator = Xoshiro256StarStar(
      seed: family.parameters.seed,
      stream: task.isHeldOut ? SyntheticStream.heldOutLog : SyntheticStream.trainingLog,
      index: UInt64(task.index))
    horizon = family.parameters.horizon
    episodeLength = family.parameters.resolvedEpisodeLength
    iid = family.parameters.sampling == .iid
    epsilon = family.parameters.epsilon
    noise = family.parameters.noise
    actions = family.actions
  }

  /// The next row, nil after `count` rows.
  public mutating func next() -> SyntheticTransition? {
    guard produced < count else { return nil }
    let row = produced
    produced += 1
    if iid {
      let h = horizon.map { generator.nextIndex(below: $0) } ?? 0
      let s = tables.start.sample(using: &generator)
      var transition = draw(from: s)
      transition.episode = row
      transition.step = h
      let terminal = horizon.map { h == $0 - 1 } ?? false
      transition.terminated = terminal
      transition.truncated = !terminal
      return transition
    }
    if step == 0 { state = tables.start.sample(using: &generator) }
    var transition = draw(from: state)
    transition.episode = episode
    transition.step = step
    let lastOfEpisode = step == episodeLength - 1
    let terminal = horizon != nil && lastOfEpisode
    transition.terminated = terminal
    transition.truncated = !terminal && (lastOfEpisode || produced == count)
    state = transition.nextState
    if lastOfEpisode {
      step = 0
      episode += 1
    } else {
      step += 1
    }
    return transition
  }

  private mutating func draw(from s: Int) -> SyntheticTransition {
    let a: Int
    if generator.nextUniform() < epsilon {
      a = generator.nextIndex(below: actions)
    } else {
      a = favoriteAction[s]
    }
    let pair = s * actions + a
    let component = tables.mixture.sample(table: pair, using: &generator)
    let next = tables.nextState.sample(table: component, using: &generator)
    var reward = rewards[pair]
    if noise > 0 { reward += noise * generator.nextNormal() }
    return SyntheticTransition(
      episode: 0, step: 0, state: s, action: a, reward: reward, nextState: next,
      terminated: false, truncated: false,
      behaviorProbability: behaviorPolicy[pair])
  }

  /// All rows of a task's log (for tests and small logs).
  public static func sample(
    family: LowRankMDPFamily, tables: SyntheticSamplingTables, task: SyntheticTask, count: Int
  ) -> [SyntheticTransition] {
    var sampler = TransitionSampler(family: family, tables: tables, task: task, count: count)
    var rows: [SyntheticTransition] = []
    rows.reserveCapacity(count)
    while let row = sampler.next() { rows.append(row) }
    return rows
  }
}
