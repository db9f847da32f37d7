/// Every knob of the low-rank multitask MDP family (`LowRankMDPFamily`) and of the logs drawn from it.
/// The defaults are those of the default dataset in `data/synth`.
///
/// Conventions: states are 0..<states, actions 0..<actions; arrays are row-major with the
/// shapes documented in `schemas/truth.md`.
public struct SyntheticParameters: Sendable, Equatable, Codable {
  /// How values are defined: discounted with factor gamma in [0, 1), or finite horizon H with
  /// steps h = 0..<H, no discount and no value beyond the horizon.
  public enum Objective: Sendable, Equatable, Codable {
    case discounted(gamma: Double)
    case finiteHorizon(horizon: Int)
  }

  /// How logged transitions are drawn.
  public enum Sampling: String, Sendable, Equatable, Codable, CaseIterable {
    /// Each transition independently: s from the start distribution, a from the behaviour policy
    /// (and, in finite-horizon mode, the step h uniform in 0..<H).
    case iid
    /// Episodes from the start distribution that follow the behaviour policy.
    case episodes
  }

  /// The start-state distribution rho0.
  public enum StartDistribution: Sendable, Equatable, Codable {
    case uniform
    /// Drawn once from a symmetric Dirichlet with this concentration.
    case random(concentration: Double)
  }

  /// T, the number of training tasks (>= 1).
  public var tasks = 8
  /// The number of held-out tasks (>= 0), drawn from streams of their own.
  public var newTasks = 2
  /// S (>= 1).
  public var states = 50
  /// A (>= 1).
  public var actions = 4
  /// k, the rank of the shared representation (1...dim).
  public var rank = 4
  /// d, the dimension of the base features x(s, a) (>= rank).
  public var dim = 40
  public var objective: Objective = .discounted(gamma: 0.9)
  /// n, transitions per training task (>= 1).
  public var samples = 4000
  /// n0, transitions per held-out task (>= 1).
  public var newSamples = 100
  /// The behaviour policy's weight on uniform actions (0...1); the rest goes to one favourite
  /// action per state. 1 = uniform (full coverage), near 0 = narrow data.
  public var epsilon = 0.5
  /// The standard deviation of the Gaussian noise added to logged rewards (>= 0).
  public var noise = 0.1
  public var sampling: Sampling = .iid
  /// The episode length in discounted episodic mode; nil means round(1 / (1 - gamma)) (at
  /// least 1). In finite-horizon mode episodes always have length H and this must be nil or H.
  public var episodeLength: Int? = nil
  /// The concentration of the symmetric Dirichlet that phi*(s, a) is drawn from (> 0; 1 =
  /// uniform on the simplex, small = nearly one-hot).
  public var featureConcentration = 1.0
  /// The concentration of the symmetric Dirichlet that each nu_j is drawn from (> 0).
  public var nextStateConcentration = 1.0
  public var start: StartDistribution = .uniform
  /// The seed of every random choice.
  public var seed: UInt64 = 0

  public init() {}

  /// Elements allowed in one dense array of truth.h5 (P is S x A x S, x is S x A x d):
  /// 10^8 float64 values, 800 MB.
  public static let maximumArrayElements = 100_000_000

  /// The discount factor used in Bellman equations: gamma, or 1 in finite-horizon mode.
  public var discount: Double {
    switch objective {
    case .discounted(let gamma): gamma
    case .finiteHorizon: 1
    }
  }

  /// H in finite-horizon mode, nil when discounted.
  public var horizon: Int? {
    if case .finiteHorizon(let horizon) = objective { return horizon }
    return nil
  }

  /// The length of logged episodes in episodic mode (H in finite-horizon mode).
  public var resolvedEpisodeLength: Int {
    switch objective {
    case .finiteHorizon(let horizon): return horizon
    case .discounted(let gamma):
      if let episodeLength { return episodeLength }
      let effective = (1 / (1 - gamma)).rounded()
      return effective.isFinite ? max(1, Int(min(effective, 1e6))) : 1
    }
  }

  /// The step index range of logged rows: 0..<H in finite-horizon mode, 0..<L in episodic
  /// discounted mode, 0..<1 for i.i.d. discounted rows.
  public var stepCount: Int {
    switch (objective, sampling) {
    case (.finiteHorizon(let horizon), _): horizon
    case (.discounted, .episodes): resolvedEpisodeLength
    case (.discounted, .iid): 1
    }
  }

  /// Checks every parameter and throws `SyntheticError.invalidParameter` with a message that
  /// names the first offending parameter (as its command-line flag), the value and the rule.
  public func validate() throws(SyntheticError) {
    func fail(_ message: String) throws(SyntheticError) {
      throw SyntheticError.invalidParameter(message)
    }
    if tasks < 1 { try fail("--tasks must be at least 1, got \(tasks)") }
    if newTasks < 0 { try fail("--new-tasks must be at least 0, got \(newTasks)") }
    if states < 1 { try fail("--states must be at least 1, got \(states)") }
    if actions < 1 { try fail("--actions must be at least 1, got \(actions)") }
    if rank < 1 { try fail("--rank must be at least 1, got \(rank)") }
    if dim < 1 { try fail("--dim must be at least 1, got \(dim)") }
    if rank > dim {
      try fail(
        "--rank (\(rank)) must not exceed --dim (\(dim)): x(s,a) = U [phi*(s,a); z(s,a)] holds phi* in its first k coordinates"
      )
    }
    switch objective {
    case .discounted(let gamma):
      if !(gamma >= 0 && gamma < 1) { try fail("--gamma must be in [0, 1), got \(gamma)") }
      if let episodeLength, episodeLength < 1 {
        try fail("--episode-length must be at least 1, got \(episodeLength)")
      }
    case .finiteHorizon(let horizon):
      if horizon < 1 { try fail("--horizon must be at least 1, got \(horizon)") }
      if let episodeLength, episodeLength != horizon {
        try fail(
          "--episode-length (\(episodeLength)) cannot differ from --horizon (\(horizon)): finite-horizon episodes have length H"
        )
      }
    }
    if samples < 1 { try fail("--samples must be at least 1, got \(samples)") }
    if newSamples < 1 { try fail("--new-samples must be at least 1, got \(newSamples)") }
    if !(epsilon >= 0 && epsilon <= 1) { try fail("--epsilon must be in [0, 1], got \(epsilon)") }
    if !(noise >= 0 && noise.isFinite) {
      try fail("--noise must be finite and at least 0, got \(noise)")
    }
    if !(featureConcentration > 0 && featureConcentration.isFinite) {
      try fail("--phi-concentration must be positive and finite, got \(featureConcentration)")
    }
    if !(nextStateConcentration > 0 && nextStateConcentration.isFinite) {
      try fail("--nu-concentration must be positive and finite, got \(nextStateConcentration)")
    }
    if case .random(let concentration) = start, !(concentration > 0 && concentration.isFinite) {
      try fail(
        "the start distribution's concentration must be positive and finite, got \(concentration)")
    }
    // Sizes, computed in Double so that huge values cannot overflow.
    let pairs = Double(states) * Double(actions)
    let limit = Double(Self.maximumArrayElements)
    if pairs * Double(states) > limit {
      try fail(
        "--states \(states) x --actions \(actions) gives a transition array P of \(states) x \(actions) x \(states) values, more than the limit of \(Self.maximumArrayElements)"
      )
    }
    if pairs * Double(dim) > limit || Double(dim) * Double(dim) > limit {
      try fail(
        "--dim \(dim) with \(states) states and \(actions) actions gives a feature table larger than the limit of \(Self.maximumArrayElements) values"
      )
    }
    if Double(max(tasks, newTasks)) * pairs * Double(stepCount) > limit {
      try fail(
        "the Q* array (tasks x steps x states x actions) would exceed the limit of \(Self.maximumArrayElements) values"
      )
    }
    if tasks > 1_000_000 || newTasks > 1_000_000 {
      try fail("at most 1000000 tasks of each kind")
    }
  }
}

/// Why the synthetic generator failed.
public enum SyntheticError: Error, CustomStringConvertible, Sendable {
  /// A parameter outside its range (a usage error).
  case invalidParameter(String)
  /// A linear-algebra call failed (not expected for valid parameters).
  case linearAlgebra(LinearAlgebraError)
  /// Value iteration did not reach its tolerance within its iteration budget.
  case valueIterationDidNotConverge(task: String, iterations: Int, change: Double)
  /// Writing an output failed.
  case output(MTFQIError)

  public var description: String {
    switch self {
    case .invalidParameter(let message): message
    case .linearAlgebra(let error): "linear algebra failed: \(error)"
    case .valueIterationDidNotConverge(let task, let iterations, let change):
      "value iteration for task \(task) did not converge in \(iterations) iterations (last sup-norm change \(change))"
    case .output(let error): error.description
    }
  }
}
