import Foundation

/// How numbers are shown in messages and tables written for people (never in files read back).
enum NumberText {
  /// At most 4 significant digits: `%.4g` for magnitudes in [1e-3, 1e5), `%.3e` outside,
  /// and Swift's own text for 0, infinities and NaN.
  static func fourDigits(_ value: Double) -> String {
    if value == 0 || !value.isFinite { return "\(value)" }
    let magnitude = abs(value)
    if magnitude >= 1e-3 && magnitude < 1e5 {
      return String(format: "%.4g", value)
    }
    return String(format: "%.3e", value)
  }

  /// The arithmetic mean; NaN for no values.
  static func mean(_ values: [Double]) -> Double {
    values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count)
  }
}
