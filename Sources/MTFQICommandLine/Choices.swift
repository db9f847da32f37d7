import ArgumentParser
import Foundation
import MTFQI

/// A flag value chosen among the cases of a library enum whose raw value is the config file's
/// snake_case spelling (`per_step`, `finite_horizon`). On the command line the one spelling is
/// kebab-case (`per-step`, `finite-horizon`), as the flags are; the snake_case spelling is still
/// accepted, with a deprecation note on stderr.
public protocol HyphenatedChoice: ExpressibleByArgument, CaseIterable, RawRepresentable
where RawValue == String {}

extension HyphenatedChoice {
  /// The spelling on the command line.
  public var flagSpelling: String { rawValue.replacingOccurrences(of: "_", with: "-") }

  /// The case `text` names, and whether it used the deprecated (snake_case) spelling.
  public static func parse(flagValue text: String) -> (choice: Self, deprecated: Bool)? {
    if let choice = allCases.first(where: { $0.flagSpelling == text }) { return (choice, false) }
    if let choice = allCases.first(where: { $0.rawValue == text }) { return (choice, true) }
    return nil
  }

  public init?(argument: String) {
    guard let (choice, deprecated) = Self.parse(flagValue: argument) else { return nil }
    if deprecated { DeprecatedSpelling.note(argument, use: choice.flagSpelling) }
    self = choice
  }

  public static var allValueStrings: [String] { allCases.map(\.flagSpelling) }
  /// No description per value: help lists the values (`(values: pooled, per-step)`).
  public static var allValueDescriptions: [String: String] { [:] }
  public var defaultValueDescription: String { flagSpelling }
}

/// The deprecation note of an old spelling, on stderr.
public enum DeprecatedSpelling {
  /// `warning: 'per_step' is deprecated on the command line, write 'per-step'`.
  public static func message(_ old: String, use new: String) -> String {
    "warning: '\(old)' is deprecated on the command line, write '\(new)'"
  }

  static func note(_ old: String, use new: String) {
    FileHandle.standardError.write(Data((message(old, use: new) + "\n").utf8))
  }
}

extension TrainConfig.Mode: HyphenatedChoice {}
extension TrainConfig.StepData: HyphenatedChoice {}
extension TrainConfig.Representation: HyphenatedChoice {}
extension TargetPolicyKind: HyphenatedChoice {}
extension CoverageGates.Scope: HyphenatedChoice {}

/// `--features` of `mtfqi-train`: one-hot, table, raw or fourier (the config's spelling).
public func featureKind(_ text: String) throws -> FeatureMapSpec.Kind {
  guard let kind = FeatureMapSpec.Kind(rawValue: text) else {
    throw ValidationError("--features must be one-hot, table, raw or fourier; found '\(text)'")
  }
  return kind
}

/// `auto` or a value: `--rank auto`, `--ridge 1e-3`.
extension AutoSetting: ExpressibleByArgument where Value: LosslessStringConvertible {
  public init?(argument: String) { self.init(argument) }
  public var defaultValueDescription: String {
    switch self {
    case .auto: "auto"
    case .fixed(let value): value.description
    }
  }
}
