/// Why training cannot go on. Every message says what was found and what to do about it.
public enum FQIError: Error, CustomStringConvertible, Sendable {
  /// A setting outside its range (a usage error: exit 64 in `mtfqi-train`).
  case invalidSetting(String)
  /// The data cannot be trained with these settings (fewer tasks than the rank, too few
  /// samples for the ridge, an empty task, a non-Discrete action space, ...).
  case guardrail(String)
  /// Fitted Q-iteration diverged: the values left the range the rewards allow, or became
  /// non-finite.
  case diverged(method: String, iteration: Int, task: String, detail: String, suggestion: String)
  /// Reading the store, a feature table or a truth file failed.
  case input(String)
  /// Writing an output failed.
  case output(String)
  /// A linear-algebra call failed where the settings should have prevented it.
  case linearAlgebra(context: String, error: LinearAlgebraError)

  public var description: String {
    switch self {
    case .invalidSetting(let message), .guardrail(let message), .input(let message),
      .output(let message):
      return message
    case .diverged(let method, let iteration, let task, let detail, let suggestion):
      return
        "\(method) fitted Q-iteration diverged at iteration \(iteration), task \(task): \(detail). \(suggestion)"
    case .linearAlgebra(let context, let error):
      return "\(context): \(error). \(Self.advice(for: error))"
    }
  }

  /// What to do about a failed solve, from what LAPACK found: a stronger ridge helps a singular
  /// or indefinite system, not a NaN in the data or a solver that did not converge.
  static func advice(for error: LinearAlgebraError) -> String {
    switch error {
    case .notPositiveDefinite, .singular:
      "The regularised systems are singular or not positive definite: use a stronger ridge (--ridge; in mtfqi-fit --head-ridge or --scratch-ridge)."
    case .invalidArgument:
      "A value is NaN or infinite: check the inputs for non-finite values."
    case .noConvergence:
      "The values are too extreme for LAPACK to converge: check the inputs for huge or non-finite values."
    case .shapeMismatch:
      "The shapes do not fit together, which mtfqi should have refused earlier: please report it with the command line."
    }
  }
}
