/// A setting given as a value or left to the automatic choice (`auto` on the command line and in
/// the train config: `--rank auto`, `"ridge": "auto"`).
public enum AutoSetting<Value: Sendable & Equatable>: Sendable, Equatable {
  /// Chosen by the stage (for example by the estimated value of each candidate's greedy policy).
  case auto
  /// Given by the user.
  case fixed(Value)

  /// The given value; nil for `auto`.
  public var fixedValue: Value? {
    if case .fixed(let value) = self { return value }
    return nil
  }
}

extension AutoSetting where Value: LosslessStringConvertible {
  /// `auto`, or a value `Value(text)` reads; nil for anything else.
  public init?(_ text: String) {
    if text == "auto" {
      self = .auto
    } else if let value = Value(text) {
      self = .fixed(value)
    } else {
      return nil
    }
  }
}
