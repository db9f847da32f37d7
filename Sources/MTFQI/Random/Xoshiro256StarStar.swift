/// xoshiro256** 1.0 (Blackman & Vigna 2018): mtfqi's seeded generator. Period 2^256 - 1; the
/// output sequence depends only on the seed (and stream), never on the platform, so every
/// random choice of mtfqi is reproducible.
///
/// Independent streams: `init(seed:stream:index:)` derives the state from (seed, a stream name,
/// an index) through SplitMix64, so that e.g. the held-out tasks draw from streams of their own
/// and do not change when the number of training tasks changes.
public struct Xoshiro256StarStar: RandomNumberGenerator, Sendable {
  private var s0: UInt64
  private var s1: UInt64
  private var s2: UInt64
  private var s3: UInt64

  /// Seeds the state with four consecutive SplitMix64 outputs (the authors' recommendation).
  /// The outputs of consecutive SplitMix64 states are distinct, so the state is never all zero.
  public init(seed: UInt64) {
    var expander = SplitMix64(state: seed)
    s0 = expander.next()
    s1 = expander.next()
    s2 = expander.next()
    s3 = expander.next()
  }

  /// A generator with an explicit state (for known-answer tests); must not be all zero.
  init(state: (UInt64, UInt64, UInt64, UInt64)) {
    (s0, s1, s2, s3) = state
  }

  /// A generator for the stream (`stream`, `index`) of `seed`. Different names or indices give
  /// statistically independent sequences; the same triple always gives the same sequence.
  public init(seed: UInt64, stream: String, index: UInt64 = 0) {
    self.init(seed: Self.streamKey(seed: seed, stream: stream, index: index))
  }

  /// The 64-bit key of a stream: SplitMix64 mixing of the seed, the FNV-1a hash of the UTF-8
  /// name, and the index, chained so that each changes the key.
  public static func streamKey(seed: UInt64, stream: String, index: UInt64) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a 64 offset basis
    for byte in stream.utf8 {
      hash ^= UInt64(byte)
      hash &*= 0x0000_0100_0000_01B3  // FNV-1a 64 prime
    }
    let a = SplitMix64.mix(seed &+ 0x9E37_79B9_7F4A_7C15)
    let b = SplitMix64.mix(a ^ hash)
    return SplitMix64.mix(b ^ SplitMix64.mix(index &+ 0x6A09_E667_F3BC_C909))
  }

  @inline(__always)
  private static func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 {
    (x << k) | (x >> (64 - k))
  }

  @inline(__always)
  public mutating func next() -> UInt64 {
    let result = Self.rotateLeft(s1 &* 5, 7) &* 9
    let t = s1 << 17
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = Self.rotateLeft(s3, 45)
    return result
  }
}
