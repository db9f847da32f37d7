import Foundation

// Samplers for the distributions mtfqi draws from. They are written out here instead of using
// the standard library's `random(in:)` so that a seed gives the same numbers with every Swift
// release: each function documents how many 64-bit words it consumes.

extension RandomNumberGenerator {
  /// Uniform on [0, 1): the top 53 bits of one word, times 2^-53. One word.
  public mutating func nextUniform() -> Double {
    Double(next() >> 11) * 0x1p-53
  }

  /// Uniform on the open interval (0, 1): (top 52 bits + 1/2) times 2^-52, never 0 or 1, safe
  /// for `log`. One word.
  public mutating func nextOpenUniform() -> Double {
    (Double(next() >> 12) + 0.5) * 0x1p-52
  }

  /// Uniform integer in 0..<bound, exactly unbiased (Lemire's multiply-and-reject). Usually one
  /// word. `bound` must be positive.
  public mutating func nextIndex(below bound: Int) -> Int {
    precondition(bound > 0, "nextIndex(below:) needs a positive bound")
    let range = UInt64(bound)
    var product = next().multipliedFullWidth(by: range)
    if product.low < range {
      let threshold = (0 &- range) % range
      while product.low < threshold {
        product = next().multipliedFullWidth(by: range)
      }
    }
    return Int(product.high)
  }

  /// Standard normal N(0, 1) by the Box-Muller transform, cos branch: sqrt(-2 ln u1) cos(2 pi u2)
  /// with u1 in (0, 1) and u2 in [0, 1). Two words. (The sin branch is not cached, so that the
  /// generator alone is the whole state.)
  public mutating func nextNormal() -> Double {
    let u1 = nextOpenUniform()
    let u2 = nextUniform()
    return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
  }

  /// The logarithm of a Gamma(shape, 1) variate, by Marsaglia & Tsang (2000); for shape < 1 the
  /// boost Gamma(a) = Gamma(a + 1) U^(1/a), kept in log space so that tiny shapes do not
  /// underflow to zero. `shape` must be positive and finite.
  public mutating func nextLogGamma(shape: Double) -> Double {
    precondition(shape > 0 && shape.isFinite, "nextLogGamma needs a positive finite shape")
    if shape < 1 {
      let boosted = nextLogGamma(shape: shape + 1)
      return boosted + Foundation.log(nextOpenUniform()) / shape
    }
    let d = shape - 1.0 / 3.0
    let c = 1 / (9 * d).squareRoot()
    while true {
      var x: Double
      var v: Double
      repeat {
        x = nextNormal()
        v = 1 + c * x
      } while v <= 0
      v = v * v * v
      let u = nextOpenUniform()
      let x2 = x * x
      if u < 1 - 0.0331 * x2 * x2 { return Foundation.log(d * v) }
      if Foundation.log(u) < 0.5 * x2 + d * (1 - v + Foundation.log(v)) {
        return Foundation.log(d * v)
      }
    }
  }

  /// A Gamma(shape, 1) variate (see `nextLogGamma`).
  public mutating func nextGamma(shape: Double) -> Double {
    Foundation.exp(nextLogGamma(shape: shape))
  }

  /// A Dirichlet(concentration) vector: independent Gamma(alpha_i) variates normalised to sum
  /// to one, computed from their logarithms (log-sum-exp), so that small concentrations give
  /// nearly one-hot vectors instead of 0/0. Every concentration must be positive and finite;
  /// the components are non-negative and sum to 1 up to rounding.
  public mutating func nextDirichlet(_ concentration: [Double]) -> [Double] {
    var logs = concentration.map { nextLogGamma(shape: $0) }
    guard let largest = logs.max() else { return [] }
    var total = 0.0
    for i in logs.indices {
      logs[i] = Foundation.exp(logs[i] - largest)
      total += logs[i]
    }
    return logs.map { $0 / total }
  }

  /// A symmetric Dirichlet(alpha, ..., alpha) vector of `count` components.
  public mutating func nextDirichlet(count: Int, concentration alpha: Double) -> [Double] {
    nextDirichlet([Double](repeating: alpha, count: count))
  }
}
