/// SplitMix64 (Steele, Lea & Flood 2014): a tiny 64-bit generator whose output function is a
/// bijective mixer. mtfqi uses it only to expand seeds: to fill the state of
/// `Xoshiro256StarStar` and to derive independent stream keys from (seed, stream name, index).
public struct SplitMix64: RandomNumberGenerator, Sendable {
  /// The generator's whole state; any value is valid.
  public var state: UInt64

  public init(state: UInt64) {
    self.state = state
  }

  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    return Self.mix(state)
  }

  /// The SplitMix64 finaliser: a bijection of UInt64 with good avalanche.
  @inline(__always)
  public static func mix(_ value: UInt64) -> UInt64 {
    var z = value
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
