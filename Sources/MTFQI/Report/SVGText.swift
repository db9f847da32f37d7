import Foundation

/// Text for XML (XHTML and SVG): escaping and deterministic number formatting.
///
/// Every number on a page goes through `Numbers`, so the same inputs give the same bytes on any
/// machine (C-locale `printf` formatting, no locale or platform dependent spelling).
public enum XMLText {
  /// Escapes `&`, `<`, `>`, `"` and `'`, and replaces characters XML 1.0 forbids (C0 controls
  /// other than tab, newline and carriage return) with U+FFFD.
  public static func escape(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for scalar in text.unicodeScalars {
      switch scalar {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&quot;"
      case "'": out += "&#39;"
      case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
      default:
        if scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF {
          out += "\u{FFFD}"
        } else {
          out.unicodeScalars.append(scalar)
        }
      }
    }
    return out
  }
}

/// Readable, deterministic numbers for tables, tick labels and SVG coordinates.
public enum Numbers {
  /// A value with `digits` significant digits, plain for 1e-3 <= |x| < 1e5, else in exponent
  /// form (`1.23e-05`); integers print without a decimal point; NaN as "n/a", infinities as
  /// "inf" / "-inf".
  public static func format(_ value: Double, digits: Int = 4) -> String {
    guard value.isFinite else { return value.isNaN ? "n/a" : (value > 0 ? "inf" : "-inf") }
    if value == 0 { return "0" }
    let magnitude = abs(value)
    if value == value.rounded(), magnitude < 1e15 { return String(Int64(value)) }
    if magnitude >= 1e-3 && magnitude < 1e5 {
      // %g switches to exponent form once the integer part has more digits than asked for.
      let decimals = max(0, digits - 1 - Int(log10(magnitude).rounded(.down)))
      return trimmed(String(format: "%.\(decimals)f", value))
    }
    return exponent(String(format: "%.\(max(digits - 1, 0))e", value))
  }

  /// An integer with thousands separators (`1,234,567`).
  public static func count(_ value: Int) -> String {
    let digits = String(abs(value))
    var groups: [Substring] = []
    var end = digits.endIndex
    while end > digits.startIndex {
      let start = digits.index(end, offsetBy: -3, limitedBy: digits.startIndex) ?? digits.startIndex
      groups.insert(digits[start..<end], at: 0)
      end = start
    }
    return (value < 0 ? "-" : "") + groups.joined(separator: ",")
  }

  /// A share in [0, 1] as a percentage with one decimal (`12.5%`).
  public static func percent(_ share: Double) -> String {
    guard share.isFinite else { return "n/a" }
    return String(format: "%.1f%%", 100 * share)
  }

  /// An SVG coordinate: two decimals at most, trailing zeros removed.
  static func coordinate(_ value: Double) -> String {
    guard value.isFinite else { return "0" }
    var text = String(format: "%.2f", value)
    if text.contains(".") {
      while text.hasSuffix("0") { text.removeLast() }
      if text.hasSuffix(".") { text.removeLast() }
    }
    return text == "-0" ? "0" : text
  }

  /// A tick label: the shortest of %g with 1...6 significant digits that reads back as the
  /// tick (so 0.30000000000000004 prints as 0.3), exponent form outside [1e-3, 1e5).
  static func tick(_ value: Double) -> String {
    if value == 0 { return "0" }
    let magnitude = abs(value)
    for digits in 1...6 {
      let text: String
      if magnitude >= 1e-3 && magnitude < 1e5 {
        let decimals = max(0, digits - 1 - Int(log10(magnitude).rounded(.down)))
        text = trimmed(String(format: "%.\(decimals)f", value))
      } else {
        text = exponent(String(format: "%.\(digits - 1)e", value))
      }
      if let back = Double(text),
        abs(back - value) <= 1e-9 * magnitude
      {
        return text
      }
    }
    return format(value)
  }

  /// Removes trailing zeros of a fraction ("1.500" -> "1.5", "2.000" -> "2").
  private static func trimmed(_ text: String) -> String {
    guard text.contains("."), !text.contains("e") else { return text }
    var out = text
    while out.hasSuffix("0") { out.removeLast() }
    if out.hasSuffix(".") { out.removeLast() }
    return out
  }

  /// "1.50e-05" -> "1.5e-5", "2.00e+06" -> "2e6".
  private static func exponent(_ text: String) -> String {
    let parts = text.split(separator: "e", maxSplits: 1)
    guard parts.count == 2 else { return text }
    let mantissa = trimmed(String(parts[0]))
    var power = String(parts[1])
    let negative = power.hasPrefix("-")
    power = String(power.drop { $0 == "+" || $0 == "-" || $0 == "0" })
    if power.isEmpty { power = "0" }
    return mantissa + "e" + (negative ? "-" : "") + power
  }
}
