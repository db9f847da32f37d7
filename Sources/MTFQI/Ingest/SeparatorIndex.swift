/// Where the commas and line feeds of a text are, kept as one bit per byte and found eight bytes
/// at a time (SWAR: plain 64-bit arithmetic on eight bytes at once), 64 KiB at a time as the
/// reader moves on. The CSV fast path takes each field's end from these bits: walking the bits
/// is a short chain of instructions, so the start of the next field is known long before the
/// current field's number is parsed, and the processor parses several fields at once.
final class SeparatorIndex {
  private let base: UnsafePointer<UInt8>
  private let count: Int
  /// Bit b of masks[w - windowFirstWord]: byte 64 * w + b is a separator.
  private let masks: UnsafeMutablePointer<UInt64>
  private static let windowWords = 1024
  private var windowFirstWord = 0
  private var windowEndWord = 0
  /// The word being walked and its separators not yet handed out.
  private var word = 0
  private var bits: UInt64 = 0
  /// The byte after the last separator handed out (or where `seek` put the walk).
  private(set) var position = 0

  init(_ text: UnsafePointer<UInt8>, count: Int) {
    base = text
    self.count = count
    masks = UnsafeMutablePointer<UInt64>.allocate(capacity: Self.windowWords)
    seek(0)
  }

  deinit { masks.deallocate() }

  /// Continues the walk at byte `position`.
  func seek(_ position: Int) {
    self.position = position
    word = position >> 6
    bits = mask(word) & (~0 << UInt64(position & 63))
  }

  /// The index of the next comma or line feed at or after `position` (the text's length when
  /// there is none); the walk moves past it.
  @inline(__always)
  func next() -> Int {
    while bits == 0 {
      word += 1
      if word << 6 >= count {
        position = count
        return count
      }
      bits = mask(word)
    }
    let found = word << 6 + bits.trailingZeroBitCount
    bits &= bits &- 1
    position = found + 1
    return found
  }

  /// The separator bits of 64-byte word `w`, computing the window holding it when needed.
  @inline(__always)
  private func mask(_ w: Int) -> UInt64 {
    guard w << 6 < count else { return 0 }
    if w < windowFirstWord || w >= windowEndWord { fill(from: w) }
    return masks[w - windowFirstWord]
  }

  private func fill(from first: Int) {
    windowFirstWord = first
    windowEndWord = min(first + Self.windowWords, (count + 63) >> 6)
    for w in windowFirstWord..<windowEndWord {
      let start = w << 6
      var bitsOfWord: UInt64 = 0
      if start + 64 <= count {
        for group in 0..<8 {
          let eight = UnsafeRawPointer(base + start + 8 * group).loadUnaligned(as: UInt64.self)
          bitsOfWord |= Self.separatorBits(eight) << UInt64(8 * group)
        }
      } else {
        for index in start..<count where base[index] == UInt8(ascii: ",") || base[index] == 0x0A {
          bitsOfWord |= 1 << UInt64(index - start)
        }
      }
      masks[w - windowFirstWord] = bitsOfWord
    }
  }

  /// One bit per byte of a little-endian word (bit i for byte i): set where the byte is ',' or LF.
  @inline(__always)
  static func separatorBits(_ eight: UInt64) -> UInt64 {
    let high: UInt64 = 0x8080_8080_8080_8080
    let low7: UInt64 = 0x7F7F_7F7F_7F7F_7F7F
    // A byte of x is zero exactly where the byte equals the separator; ((x & 0x7F) + 0x7F) | x
    // has bit 7 set in every non-zero byte and never carries into the next byte.
    let commas = eight ^ 0x2C2C_2C2C_2C2C_2C2C
    let lineFeeds = eight ^ 0x0A0A_0A0A_0A0A_0A0A
    let commaHigh = ~(((commas & low7) &+ low7) | commas) & high
    let lineFeedHigh = ~(((lineFeeds & low7) &+ low7) | lineFeeds) & high
    // Gather bit 7 of each byte into the low eight bits (the products land on distinct bits).
    return (((commaHigh | lineFeedHigh) >> 7) &* 0x0102_0408_1020_4080) >> 56
  }
}
