import ArgumentParser
import Foundation
import MTFQI
import MTFQICommandLine

/// `mtfqi-synth`: writes logs of a low-rank multitask MDP family, its feature table and its
/// exact ground truth. Thin: parse, validate (through the library's own checks), call
/// `SyntheticGenerator.generate`.
@main
struct MTFQISynth: StageCommand {
  static let configuration = CommandConfiguration(
    commandName: "mtfqi-synth",
    abstract: "Generate a low-rank multitask MDP family with exact ground truth.",
    discussion: """
      All tasks share the dynamics P(s'|s,a) = sum_j phi*_j(s,a) nu_j(s'), phi*(s,a) on the \
      k-simplex, and differ in their reward r_t(s,a) = <phi*(s,a), theta_t>, theta_t in \
      [0,1]^k. The base features x(s,a) = U [phi*(s,a); z(s,a)] (U random orthogonal, z \
      fixed noise) make every Q*_t exactly linear in B*^T x with B* = U[:, :k].

      Files written under DIR (layouts: schemas/truth.md, schemas/feature-table.md):
        train/task00.csv ...  training-task logs (observation = state index)
        new/new00.csv ...     held-out logs (own random streams: they do not
                              change when --tasks changes)
        features.h5           the feature table x(s,a): /features (S, A, d)
        truth.h5              P, phi*, B*, U, x, rewards, theta, Q*, V*, the
                              behaviour policy, start and sampling
                              distributions, all parameters and the seed

      The same flags and seed give byte-identical files. i.i.d. discounted rows have \
      truncated = 1 (they bootstrap); in finite-horizon mode the row at step H-1 has \
      terminated = 1 (no value beyond the horizon).

      Example (the default dataset in data/synth):
        mtfqi-synth -o data/synth --tasks 8 --samples 4000 \\
          --new-tasks 2 --new-samples 100 --states 50 --actions 4 \\
          --rank 4 --dim 40 --gamma 0.9 --epsilon 0.5 --noise 0.1 --seed 0
      """,
    version: "0.1.0")

  @Option(
    name: [.customShort("o"), .long],
    help: ArgumentHelp("The output directory (created if missing).", valueName: "DIR"))
  var output: String

  @Option(help: "T, the number of training tasks.")
  var tasks: Int = 8

  @Option(help: "The number of held-out tasks (0 for none).")
  var newTasks: Int = 2

  @Option(help: "S, the number of states.")
  var states: Int = 50

  @Option(help: "A, the number of actions.")
  var actions: Int = 4

  @Option(help: "k, the rank of the shared representation (at most --dim).")
  var rank: Int = 4

  @Option(help: "d, the dimension of the base features x(s,a).")
  var dim: Int = 40

  @Option(help: "The discount factor in [0, 1) (default: 0.9 unless --horizon is given).")
  var gamma: Double?

  @Option(help: "H: finite-horizon mode with steps 0..<H and no discount (excludes --gamma).")
  var horizon: Int?

  @Option(help: "Transitions per training task.")
  var samples: Int = 4000

  @Option(help: "Transitions per held-out task.")
  var newSamples: Int = 100

  @Option(
    help:
      "The behaviour policy's weight on uniform actions in [0, 1]; the rest goes to one favourite action per state (1 = uniform coverage, 0.05 = narrow)."
  )
  var epsilon: Double = 0.5

  @Option(help: "The standard deviation of the Gaussian noise added to logged rewards.")
  var noise: Double = 0.1

  @Option(
    help:
      "How transitions are drawn: iid (state from the start distribution, action from the behaviour policy) or episodes."
  )
  var sampling: SamplingOption = .iid

  @Option(
    help:
      "Episode length for --sampling episodes in discounted mode (default: round(1/(1-gamma))); finite-horizon episodes have length H."
  )
  var episodeLength: Int?

  @Option(help: "The start-state distribution: uniform, or random (drawn from a flat Dirichlet).")
  var start: StartOption = .uniform

  @Option(
    help: "The Dirichlet concentration of phi*(s,a) on the k-simplex (small = nearly one-hot).")
  var phiConcentration: Double = 1.0

  @Option(help: "The Dirichlet concentration of the next-state distributions nu_j.")
  var nuConcentration: Double = 1.0

  @Option(help: "The log format: csv, jsonl or both.")
  var format: FormatOption = .csv

  @Option(help: "The seed of every random choice.")
  var seed: UInt64 = 0

  @OptionGroup var progressOptions: ProgressOptions

  enum SamplingOption: String, ExpressibleByArgument, CaseIterable {
    case iid, episodes
  }

  enum StartOption: String, ExpressibleByArgument, CaseIterable {
    case uniform, random
  }

  enum FormatOption: String, ExpressibleByArgument, CaseIterable {
    case csv, jsonl, both

    var formats: [SyntheticLogFormat] {
      switch self {
      case .csv: [.csv]
      case .jsonl: [.jsonl]
      case .both: [.csv, .jsonl]
      }
    }
  }

  var parameters: SyntheticParameters {
    var p = SyntheticParameters()
    p.tasks = tasks
    p.newTasks = newTasks
    p.states = states
    p.actions = actions
    p.rank = rank
    p.dim = dim
    p.objective = horizon.map { .finiteHorizon(horizon: $0) } ?? .discounted(gamma: gamma ?? 0.9)
    p.samples = samples
    p.newSamples = newSamples
    p.epsilon = epsilon
    p.noise = noise
    p.sampling = sampling == .iid ? .iid : .episodes
    p.episodeLength = episodeLength
    p.start = start == .uniform ? .uniform : .random(concentration: 1)
    p.featureConcentration = phiConcentration
    p.nextStateConcentration = nuConcentration
    p.seed = seed
    return p
  }

  func validate() throws {
    if gamma != nil && horizon != nil {
      throw ValidationError("give --gamma (discounted) or --horizon (finite horizon), not both")
    }
    do {
      try parameters.validate()
    } catch {
      throw ValidationError(error.description)
    }
  }

  func run() throws {
    var progress: (@Sendable (String) -> Void)? = nil
    if progressOptions.showProgress {
      progress = { @Sendable message in
        FileHandle.standardError.write(Data(("mtfqi-synth: " + message + "\n").utf8))
      }
    }
    do {
      let summary = try SyntheticGenerator.generate(
        parameters, into: output, formats: format.formats, progress: progress)
      print(summary.report)
    } catch {
      throw RuntimeFailure(error.description)
    }
  }
}
