internal import CFastFloat

/// Byte-level number parsing for the text readers: correctly rounded decimals (fast_float) and
/// strict integers. A field must be consumed whole: "1.5x" is not a number.
enum TextParsing {
  /// Parses a whole field as a Double (decimal, exponent, inf/nan spellings accepted here;
  /// callers reject non-finite values where they are not allowed). Nil when not a number.
  @inline(__always)
  static func double(_ field: UnsafeRawBufferPointer) -> Double? {
    guard field.count > 0, let base = field.baseAddress else { return nil }
    var value = 0.0
    let first = base.assumingMemoryBound(to: CChar.self)
    let consumed = mtfqi_parse_double(first, first + field.count, &value)
    return consumed == field.count ? value : nil
  }

  /// The number at the start of `text` and how many bytes it takes (0: no number there), by
  /// the short-decimal fast path with fast_float behind it, or (`reference`) by fast_float
  /// alone. For tests that hold the two to the same result.
  static func numberPrefix(_ text: UnsafeRawBufferPointer, reference: Bool = false) -> (value: Double, consumed: Int) {
    guard let base = text.baseAddress else { return (0, 0) }
    var value = 0.0
    let first = base.assumingMemoryBound(to: CChar.self)
    let consumed =
      reference
      ? mtfqi_parse_double_reference(first, first + text.count, &value)
      : mtfqi_parse_double(first, first + text.count, &value)
    return (value, consumed)
  }

  /// Parses a whole field as a signed 64-bit integer (optional sign, digits only).
  @inline(__always)
  static func integer(_ field: UnsafeRawBufferPointer) -> Int64? {
    var index = 0
    let count = field.count
    guard count > 0 else { return nil }
    var negative = false
    let first = field[0]
    if first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
      negative = first == UInt8(ascii: "-")
      index = 1
      guard count > 1 else { return nil }
    }
    // Accumulated negatively, so that int64 min is an integer too.
    var value: Int64 = 0
    while index < count {
      let digit = Int64(field[index]) - 48
      guard digit >= 0 && digit <= 9 else { return nil }
      let (times, o1) = value.multipliedReportingOverflow(by: 10)
      let (sum, o2) = times.subtractingReportingOverflow(digit)
      guard !o1 && !o2 else { return nil }
      value = sum
      index += 1
    }
    if negative { return value }
    let (positive, overflow) = value.multipliedReportingOverflow(by: -1)
    return overflow ? nil : positive
  }

  /// 0/1/true/false/True/False/TRUE/FALSE.
  @inline(__always)
  static func flag(_ field: UnsafeRawBufferPointer) -> UInt8? {
    if field.count == 1 {
      if field[0] == UInt8(ascii: "0") { return 0 }
      if field[0] == UInt8(ascii: "1") { return 1 }
      return nil
    }
    switch String(decoding: field, as: UTF8.self).lowercased() {
    case "true": return 1
    case "false": return 0
    default: return nil
    }
  }

  /// The field's text for an error message (cut at 40 characters).
  static func show(_ field: UnsafeRawBufferPointer) -> String {
    if field.isEmpty { return "an empty field" }
    let text = String(decoding: field.prefix(40), as: UTF8.self)
    return "'" + text + (field.count > 40 ? "...'" : "'")
  }
}
