/// One member of the low-rank multitask MDP family (schemas/truth.md), with its exact ground truth.
///
/// All tasks share the dynamics P(s'|s,a) = sum_j phi*_j(s,a) nu_j(s') (phi*(s,a) on the
/// k-simplex, nu_j distributions over next states) and differ in their mean reward
/// r_t(s,a) = <phi*(s,a), theta_t>, theta_t uniform in [0,1]^k. The learner's base features are
/// x(s,a) = U [phi*(s,a); z(s,a)] with U a Haar-random d x d orthogonal matrix and z fixed
/// N(0,1) distractors, so B* = U[:, :k] gives B*^T x(s,a) = phi*(s,a) and every Q*_t is exactly
/// linear in B*^T x (realizable and Bellman complete).
///
/// Every array is row-major ("(S, A, k)" means index (s * A + a) * k + j). Randomness comes from
/// named streams of `parameters.seed` (see `SyntheticStream`): the shared structure does not
/// depend on the numbers of tasks, and task t (training) or j (held-out) uses stream index t or
/// j, so adding training tasks changes neither the existing nor the held-out tasks.
public struct LowRankMDPFamily: Sendable {
  public let parameters: SyntheticParameters
  /// phi*(s,a): (S, A, k), each row on the simplex.
  public let phi: [Double]
  /// nu_j(s'): (k, S), each row a distribution.
  public let nu: [Double]
  /// P(s'|s,a) = sum_j phi*_j(s,a) nu_j(s'): (S, A, S).
  public let transition: [Double]
  /// z(s,a): (S, A, d - k), i.i.d. N(0, 1).
  public let distractors: [Double]
  /// U: (d, d) orthogonal, row-major.
  public let rotation: [Double]
  /// x(s,a) = U [phi*(s,a); z(s,a)]: (S, A, d).
  public let features: [Double]
  /// The behaviour policy's favourite action per state: (S,).
  public let favoriteAction: [Int]
  /// pi_b(a|s) = epsilon / A + (1 - epsilon) [a == favourite(s)]: (S, A).
  public let behaviorPolicy: [Double]
  /// rho0(s): (S,).
  public let startDistribution: [Double]
  /// The training tasks task00, task01, ...
  public let trainingTasks: [SyntheticTask]
  /// The held-out tasks new00, new01, ...
  public let heldOutTasks: [SyntheticTask]

  public var states: Int { parameters.states }
  public var actions: Int { parameters.actions }
  public var rank: Int { parameters.rank }
  public var dim: Int { parameters.dim }

  /// B* = U[:, :k]: (d, k), row-major.
  public var representation: [Double] {
    var b = [Double](repeating: 0, count: dim * rank)
    for i in 0..<dim {
      for j in 0..<rank { b[i * rank + j] = rotation[i * dim + j] }
    }
    return b
  }

  /// Draws the family and solves every task exactly. Throws `.invalidParameter` for invalid
  /// parameters; deterministic in `parameters`.
  public init(parameters: SyntheticParameters) throws(SyntheticError) {
    try parameters.validate()
    self.parameters = parameters
    let s = parameters.states
    let a = parameters.actions
    let k = parameters.rank
    let d = parameters.dim
    let pairs = s * a
    let seed = parameters.seed

    var phiStream = Xoshiro256StarStar(seed: seed, stream: SyntheticStream.phi)
    var phi = [Double](repeating: 0, count: pairs * k)
    for pair in 0..<pairs {
      let row = phiStream.nextDirichlet(count: k, concentration: parameters.featureConcentration)
      for j in 0..<k { phi[pair * k + j] = row[j] }
    }

    var nuStream = Xoshiro256StarStar(seed: seed, stream: SyntheticStream.nu)
    var nu = [Double](repeating: 0, count: k * s)
    for j in 0..<k {
      let row = nuStream.nextDirichlet(count: s, concentration: parameters.nextStateConcentration)
      for next in 0..<s { nu[j * s + next] = row[next] }
    }

    var transition = [Double](repeating: 0, count: pairs * s)
    for pair in 0..<pairs {
      for j in 0..<k {
        let weight = phi[pair * k + j]
        for next in 0..<s { transition[pair * s + next] += weight * nu[j * s + next] }
      }
    }

    let extra = d - k
    var distractorStream = Xoshiro256StarStar(seed: seed, stream: SyntheticStream.distractors)
    let distractors = (0..<(pairs * extra)).map { _ in distractorStream.nextNormal() }

    var rotationStream = Xoshiro256StarStar(seed: seed, stream: SyntheticStream.rotation)
    let rotation = try Self.haarOrthogonal(dimension: d, using: &rotationStream)

    // x(s,a)_i = sum_j U[i, j] v_j with v = [phi*(s,a); z(s,a)].
    var features = [Double](repeating: 0, count: pairs * d)
    var v = [Double](repeating: 0, count: d)
    for pair in 0..<pairs {
      for j in 0..<k { v[j] = phi[pair * k + j] }
      for j in 0..<extra { v[k + j] = distractors[pair * extra + j] }
      for i in 0..<d {
        var sum = 0.0
        for j in 0..<d { sum += rotation[i * d + j] * v[j] }
        features[pair * d + i] = sum
      }
    }

    var behaviorStream = Xoshiro256StarStar(seed: seed, stream: SyntheticStream.behavior)
    let favoriteAction = (0..<s).map { _ in behaviorStream.nextIndex(below: a) }
    var behaviorPolicy = [Double](repeating: 0, count: pairs)
    let explore = parameters.epsilon / Double(a)
    let favorite = (1 - parameters.epsilon) + explore
    for state in 0..<s {
      for action in 0..<a {
        behaviorPolicy[state * a + action] = action == favoriteAction[state] ? favorite : explore
      }
    }

    let startDistribution: [Double]
    switch parameters.start {
    case .uniform:
      startDistribution = [Double](repeating: 1 / Double(s), count: s)
    case .random(let concentration):
      var startStream = Xoshiro256StarStar(seed: seed, stream: SyntheticStream.start)
      startDistribution = startStream.nextDirichlet(count: s, concentration: concentration)
    }

    self.phi = phi
    self.nu = nu
    self.transition = transition
    self.distractors = distractors
    self.rotation = rotation
    self.features = features
    self.favoriteAction = favoriteAction
    self.behaviorPolicy = behaviorPolicy
    self.startDistribution = startDistribution

    func makeTask(heldOut: Bool, index: Int, count: Int) throws(SyntheticError) -> SyntheticTask {
      var thetaStream = Xoshiro256StarStar(
        seed: seed, stream: heldOut ? SyntheticStream.heldOutTheta : SyntheticStream.trainingTheta,
        index: UInt64(index))
      let theta = (0..<k).map { _ in thetaStream.nextUniform() }
      var rewards = [Double](repeating: 0, count: pairs)
      for pair in 0..<pairs {
        var sum = 0.0
        for j in 0..<k { sum += phi[pair * k + j] * theta[j] }
        rewards[pair] = sum
      }
      let name = SyntheticTask.name(heldOut: heldOut, index: index, count: count)
      let values = try OptimalValues.solve(
        rewards: rewards, phi: phi, nu: nu, states: s, actions: a, rank: k,
        objective: parameters.objective, taskName: name)
      return SyntheticTask(
        name: name, isHeldOut: heldOut, index: index, theta: theta, rewards: rewards,
        qStar: values.q, vStar: values.v, iterations: values.iterations,
        finalChange: values.finalChange)
    }
    var training: [SyntheticTask] = []
    for t in 0..<parameters.tasks {
      training.append(try makeTask(heldOut: false, index: t, count: parameters.tasks))
    }
    var heldOut: [SyntheticTask] = []
    for t in 0..<parameters.newTasks {
      heldOut.append(try makeTask(heldOut: true, index: t, count: parameters.newTasks))
    }
    self.trainingTasks = training
    self.heldOutTasks = heldOut
  }

  /// A Haar-distributed d x d orthogonal matrix, row-major: Q of the QR factorisation of a
  /// matrix of i.i.d. N(0, 1) entries, with R's diagonal made non-negative (Mezzadri 2007).
  /// The Gaussian entries are drawn in column-major order.
  static func haarOrthogonal(dimension d: Int, using generator: inout Xoshiro256StarStar)
    throws(SyntheticError) -> [Double]
  {
    let gaussian = Matrix(
      rows: d, columns: d, columnMajor: (0..<(d * d)).map { _ in generator.nextNormal() })
    let factors: (q: Matrix, r: Matrix)
    do {
      factors = try LinearAlgebra.qr(gaussian)
    } catch {
      throw SyntheticError.linearAlgebra(error)
    }
    return factors.q.rowMajorValues()
  }

  /// The expected state-action distribution of one logged row of a log with `samples` rows:
  /// for i.i.d. sampling rho0(s) pi_b(a|s); for episodes the occupancies d_h(s) pi_b(a|s) of
  /// steps h = 0..<L averaged with weights (rows at step h) / samples (the last episode may be
  /// cut short). `perStep` holds the occupancies (L, S, A) in episodic mode, nil otherwise.
  public func samplingDistribution(samples: Int) -> (mu: [Double], perStep: [Double]?) {
    let s = states
    let a = actions
    let k = rank
    let pairs = s * a
    switch parameters.sampling {
    case .iid:
      var mu = [Double](repeating: 0, count: pairs)
      for state in 0..<s {
        for action in 0..<a {
          mu[state * a + action] = startDistribution[state] * behaviorPolicy[state * a + action]
        }
      }
      return (mu, nil)
    case .episodes:
      let length = parameters.resolvedEpisodeLength
      var perStep = [Double](repeating: 0, count: length * pairs)
      var stateDistribution = startDistribution
      var mixture = [Double](repeating: 0, count: k)
      for h in 0..<length {
        for j in 0..<k { mixture[j] = 0 }
        for state in 0..<s {
          for action in 0..<a {
            let pair = state * a + action
            let mass = stateDistribution[state] * behaviorPolicy[pair]
            perStep[h * pairs + pair] = mass
            for j in 0..<k { mixture[j] += mass * phi[pair * k + j] }
          }
        }
        for next in 0..<s {
          var sum = 0.0
          for j in 0..<k { sum += mixture[j] * nu[j * s + next] }
          stateDistribution[next] = sum
        }
      }
      let fullEpisodes = samples / length
      let remainder = samples % length
      var mu = [Double](repeating: 0, count: pairs)
      for h in 0..<length {
        let rows = fullEpisodes + (h < remainder ? 1 : 0)
        let weight = Double(rows) / Double(samples)
        if rows == 0 { continue }
        for pair in 0..<pairs { mu[pair] += weight * perStep[h * pairs + pair] }
      }
      return (mu, perStep)
    }
  }
}

/// One task of the family with its exact optimal values.
public struct SyntheticTask: Sendable {
  /// "task00", ... for training tasks, "new00", ... for held-out tasks.
  public let name: String
  public let isHeldOut: Bool
  /// The task's index among training or held-out tasks (its random stream index).
  public let index: Int
  /// theta_t: (k,), uniform in [0, 1).
  public let theta: [Double]
  /// r_t(s,a) = <phi*(s,a), theta_t>: (S, A).
  public let rewards: [Double]
  /// Q*: (S, A) discounted, (H, S, A) finite horizon.
  public let qStar: [Double]
  /// V*(s) = max_a Q*(s,a): (S,) discounted, (H, S) finite horizon.
  public let vStar: [Double]
  /// Value-iteration sweeps (discounted) or backward steps (finite horizon).
  public let iterations: Int
  /// The sup-norm change of V in the last value-iteration sweep (0 in finite-horizon mode).
  public let finalChange: Double

  /// Zero-padded names: at least two digits, more when `count` > 100 ("task100").
  public static func name(heldOut: Bool, index: Int, count: Int) -> String {
    let width = max(2, String(max(count - 1, 0)).count)
    let digits = String(index)
    let padded = String(repeating: "0", count: max(0, width - digits.count)) + digits
    return (heldOut ? "new" : "task") + padded
  }
}

/// The names of the random streams of the family (with the seed and an index they key a
/// `Xoshiro256StarStar`). Changing a name changes the data.
public enum SyntheticStream {
  public static let phi = "synthetic/phi"
  public static let nu = "synthetic/nu"
  public static let distractors = "synthetic/distractors"
  public static let rotation = "synthetic/rotation"
  public static let behavior = "synthetic/behavior"
  public static let start = "synthetic/start"
  /// Index t: theta of training task t.
  public static let trainingTheta = "synthetic/theta/train"
  /// Index j: theta of held-out task j.
  public static let heldOutTheta = "synthetic/theta/new"
  /// Index t: the log of training task t.
  public static let trainingLog = "synthetic/log/train"
  /// Index j: the log of held-out task j.
  public static let heldOutLog = "synthetic/log/new"
}
