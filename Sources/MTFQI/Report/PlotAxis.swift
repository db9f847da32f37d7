import Foundation

/// One axis of a plot: its scale, its range and readable ticks.
///
/// Linear axes extend the data range to multiples of a 1-2-5 step (about five ticks); log axes
/// extend it to 1-2-5 x 10^j values, with ticks at 1, 2, 5 x 10^j over up to three decades and
/// at powers of ten (every few decades for wide ranges) beyond. Non-finite values, and values
/// <= 0 on a log axis, are left out of the range (and of the plot).
public struct PlotAxis: Sendable, Equatable {
  public enum Scale: Sendable, Equatable {
    case linear, log
  }

  /// What the axis shows and in which unit ("Bellman residual (RMS, reward units)").
  public var label: String
  public var scale: Scale
  public var low: Double
  public var high: Double
  public var ticks: [Double]

  public init(label: String, scale: Scale, low: Double, high: Double, ticks: [Double]) {
    self.label = label
    self.scale = scale
    self.low = low
    self.high = high
    self.ticks = ticks
  }

  /// Whether a value can be placed on this axis.
  public func accepts(_ value: Double) -> Bool {
    value.isFinite && (scale == .linear || value > 0)
  }

  /// The value's position along the axis, 0 at `low` and 1 at `high`.
  public func fraction(_ value: Double) -> Double {
    switch scale {
    case .linear:
      return high > low ? (value - low) / (high - low) : 0.5
    case .log:
      let a = log10(low)
      let b = log10(high)
      return b > a ? (log10(value) - a) / (b - a) : 0.5
    }
  }

  /// An axis covering `values` (and 0 when `includeZero`, linear only).
  public static func fitting(
    _ values: [Double], scale: Scale, label: String, includeZero: Bool = false
  ) -> PlotAxis {
    switch scale {
    case .linear: return linear(values, label: label, includeZero: includeZero)
    case .log: return logarithmic(values, label: label)
    }
  }

  static func linear(_ values: [Double], label: String, includeZero: Bool) -> PlotAxis {
    var finite = values.filter(\.isFinite)
    if includeZero { finite.append(0) }
    guard var lo = finite.min(), var hi = finite.max() else {
      return PlotAxis(label: label, scale: .linear, low: 0, high: 1, ticks: [0, 0.5, 1])
    }
    if hi - lo <= 1e-12 * max(abs(lo), abs(hi)) || hi == lo {
      let pad = lo == 0 ? 1 : abs(lo) * 0.5
      lo -= pad
      hi += pad
      if includeZero && values.allSatisfy({ !$0.isFinite || $0 >= 0 }) { lo = max(lo, 0) }
    }
    let step = niceStep((hi - lo) / 5)
    let first = (lo / step).rounded(.down)
    let last = (hi / step).rounded(.up)
    let ticks = stride(from: first, through: last, by: 1).map { clean($0 * step, step: step) }
    return PlotAxis(label: label, scale: .linear, low: first * step, high: last * step, ticks: ticks)
  }

  static func logarithmic(_ values: [Double], label: String) -> PlotAxis {
    let positive = values.filter { $0.isFinite && $0 > 0 }
    guard var lo = positive.min(), var hi = positive.max() else {
      return PlotAxis(label: label, scale: .log, low: 1, high: 10, ticks: [1, 10])
    }
    if hi / lo < 1.5 {
      lo /= 1.5
      hi *= 1.5
    }
    // Less than a factor of 30: bounds and ticks on every integer mantissa, else on 1, 2, 5.
    let mantissas: [Double] = hi / lo <= 30 ? [1, 2, 3, 4, 5, 6, 7, 8, 9] : [1, 2, 5]
    let low = round(below: lo, mantissas: mantissas)
    let high = round(above: hi, mantissas: mantissas)
    let firstDecade = Int(log10(low).rounded(.down))
    let lastDecade = Int(log10(high).rounded(.up))
    let decades = lastDecade - firstDecade
    var ticks: [Double] = []
    if high / low <= 4 {
      // Less than a factor of 4: evenly spaced readable values read better than 1-2-5.
      ticks = linear([low, high], label: label, includeZero: false).ticks.filter {
        $0 > 0 && $0 >= low * (1 - 1e-9) && $0 <= high * (1 + 1e-9)
      }
    } else if decades <= 3 {
      for exponent in firstDecade...lastDecade {
        for mantissa in mantissas {
          let value = clean(mantissa * pow(10, Double(exponent)), step: pow(10, Double(exponent)))
          if value >= low * (1 - 1e-9) && value <= high * (1 + 1e-9) { ticks.append(value) }
        }
      }
    } else {
      let every = max(1, Int((Double(decades) / 7).rounded(.up)))
      for exponent in firstDecade...lastDecade where (exponent - firstDecade) % every == 0 {
        let value = pow(10, Double(exponent))
        if value >= low * (1 - 1e-9) && value <= high * (1 + 1e-9) { ticks.append(value) }
      }
    }
    return PlotAxis(label: label, scale: .log, low: low, high: high, ticks: ticks)
  }

  /// The 1-2-5 step nearest above `raw`.
  static func niceStep(_ raw: Double) -> Double {
    guard raw > 0, raw.isFinite else { return 1 }
    let power = pow(10, (log10(raw)).rounded(.down))
    for mantissa in [1.0, 2, 5, 10] where mantissa * power >= raw * (1 - 1e-9) {
      return mantissa * power
    }
    return 10 * power
  }

  /// The largest m x 10^j at most `value`, m one of `mantissas` (ascending, starting at 1).
  static func round(below value: Double, mantissas: [Double]) -> Double {
    let power = pow(10, log10(value).rounded(.down))
    var best = power
    for mantissa in mantissas where mantissa * power <= value * (1 + 1e-12) { best = mantissa * power }
    return clean(best, step: power)
  }

  /// The smallest m x 10^j at least `value`, m one of `mantissas` or 10.
  static func round(above value: Double, mantissas: [Double]) -> Double {
    let power = pow(10, log10(value).rounded(.down))
    for mantissa in mantissas + [10] where mantissa * power >= value * (1 - 1e-12) {
      return clean(mantissa * power, step: power)
    }
    return 10 * power
  }

  /// Rounds away binary noise: the value as a multiple of step / 1000.
  static func clean(_ value: Double, step: Double) -> Double {
    let unit = step / 1000
    let cleaned = (value / unit).rounded() * unit
    return Double(Numbers.tick(cleaned)) ?? cleaned
  }
}
