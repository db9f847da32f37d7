import Foundation
internal import CZlib

/// Reads a file's bytes in blocks, inflating gzip (detected by its magic bytes, not its name)
/// with zlib as it goes; multi-member gzip files are read whole. Hashes the bytes as stored on
/// disk (sha256) and counts them for progress. A truncated or corrupt gzip stream is an error
/// naming the file and the compressed byte offset.
final class ByteStream {
  let path: String
  private(set) var isGzip = false
  /// Size on disk, when known.
  let fileSize: Int64?
  private(set) var rawBytesRead: Int64 = 0
  private var digest = SHA256Digest()
  private let handle: UnsafeMutablePointer<FILE>
  private var raw: [UInt8]
  private var rawStart = 0
  private var rawEnd = 0
  private var rawEOF = false
  private var stream = z_stream()
  private var streamActive = false
  private var streamEnded = false

  init(path: String) throws(MTFQIError) {
    self.path = path
    guard let handle = fopen(path, "rb") else {
      throw MTFQIError.io(path: path, message: "cannot open: \(String(cString: strerror(errno)))")
    }
    self.handle = handle
    var info = stat()
    fileSize = fstat(fileno(handle), &info) == 0 ? Int64(info.st_size) : nil
    raw = [UInt8](repeating: 0, count: 1 << 20)
    try fillRaw()
    isGzip = rawEnd - rawStart >= 2 && raw[rawStart] == 0x1f && raw[rawStart + 1] == 0x8b
    if isGzip {
      let status = mtfqi_inflate_init2(&stream, 15 + 16)
      guard status == Z_OK else {
        fclose(handle)
        throw MTFQIError.io(path: path, message: "cannot start gzip decompression (zlib status \(status))")
      }
      streamActive = true
    }
  }

  deinit {
    if streamActive { inflateEnd(&stream) }
    fclose(handle)
  }

  /// The sha256 of the bytes on disk; call after the stream is read to its end.
  func sha256() throws(MTFQIError) -> String {
    // Hash whatever was not consumed (a reader that stopped early still reports the whole file).
    while !rawEOF {
      rawStart = rawEnd
      try fillRaw()
    }
    return digest.hexDigest()
  }

  private func fillRaw() throws(MTFQIError) {
    if rawStart > 0 && rawStart == rawEnd {
      rawStart = 0
      rawEnd = 0
    }
    guard !rawEOF, rawEnd < raw.count else { return }
    let count = raw.withUnsafeMutableBytes { buffer in
      fread(buffer.baseAddress! + rawEnd, 1, buffer.count - rawEnd, handle)
    }
    if count == 0 {
      if ferror(handle) != 0 {
        throw MTFQIError.io(path: path, message: "read error: \(String(cString: strerror(errno)))")
      }
      rawEOF = true
      return
    }
    raw.withUnsafeBytes { buffer in
      digest.update(UnsafeRawBufferPointer(rebasing: buffer[rawEnd..<(rawEnd + count)]))
    }
    rawEnd += count
    rawBytesRead += Int64(count)
  }

  /// For a reader that hashes later: reads file bytes straight into `buffer` *without hashing
  /// them*, when that is how the next bytes come (a plain file, nothing left in `raw`); nil
  /// otherwise (then `read`, which hashes). The caller must pass every byte this returns to
  /// `hash`, in order, before any other read.
  func readUnhashed(into buffer: UnsafeMutableRawBufferPointer) throws(MTFQIError) -> Int? {
    guard !isGzip, rawStart == rawEnd, buffer.count > 0 else { return nil }
    if rawEOF { return 0 }
    return try readDirectly(into: buffer)
  }

  /// Adds bytes read by `readUnhashed` to the digest.
  func hash(_ bytes: UnsafeRawBufferPointer) {
    digest.update(bytes)
  }

  /// Reads file bytes into `buffer` without going through `raw` and without hashing them;
  /// plain files only.
  private func readDirectly(into buffer: UnsafeMutableRawBufferPointer) throws(MTFQIError) -> Int {
    guard let destination = buffer.baseAddress else { return 0 }
    let count = fread(destination, 1, buffer.count, handle)
    if count == 0 {
      if ferror(handle) != 0 {
        throw MTFQIError.io(path: path, message: "read error: \(String(cString: strerror(errno)))")
      }
      rawEOF = true
      return 0
    }
    rawBytesRead += Int64(count)
    return count
  }

  /// Reads up to `buffer.count` decompressed bytes; 0 at the end of the data.
  func read(into buffer: UnsafeMutableRawBufferPointer) throws(MTFQIError) -> Int {
    guard buffer.count > 0 else { return 0 }
    if !isGzip {
      if rawStart == rawEnd && !rawEOF && buffer.count >= raw.count {
        // A large request reads straight into the caller's buffer (no copy through `raw`).
        let count = try readDirectly(into: buffer)
        hash(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[0..<count]))
        return count
      }
      if rawStart == rawEnd { try fillRaw() }
      let n = min(buffer.count, rawEnd - rawStart)
      if n == 0 { return 0 }
      raw.withUnsafeBytes { source in
        buffer.baseAddress!.copyMemory(from: source.baseAddress! + rawStart, byteCount: n)
      }
      rawStart += n
      return n
    }
    while true {
      if streamEnded {
        // Another gzip member may follow (concatenated .gz files are valid gzip).
        if rawStart == rawEnd { try fillRaw() }
        if rawStart == rawEnd { return 0 }
        inflateReset(&stream)
        streamEnded = false
      }
      if rawStart == rawEnd { try fillRaw() }
      let available = rawEnd - rawStart
      let consumedBefore = stream.total_in
      var produced = 0
      var status: Int32 = Z_OK
      raw.withUnsafeMutableBytes { source in
        stream.next_in = source.baseAddress!.assumingMemoryBound(to: UInt8.self) + rawStart
        stream.avail_in = UInt32(available)
        stream.next_out = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
        stream.avail_out = UInt32(buffer.count)
        status = inflate(&stream, Z_NO_FLUSH)
        produced = buffer.count - Int(stream.avail_out)
      }
      rawStart += Int(stream.total_in - consumedBefore)
      switch status {
      case Z_STREAM_END:
        streamEnded = true
        if produced > 0 { return produced }
      case Z_OK, Z_BUF_ERROR:
        if produced > 0 { return produced }
        if available == 0 && rawEOF {
          throw MTFQIError.invalidInput(
            "\(path): the gzip stream is truncated (it ends after \(rawBytesRead) compressed bytes without its end marker)")
        }
      default:
        let message = stream.msg.map { String(cString: $0) } ?? "zlib status \(status)"
        throw MTFQIError.invalidInput(
          "\(path): the gzip stream is corrupt near compressed byte \(stream.total_in): \(message)")
      }
    }
  }
}

/// Splits a byte stream into lines (LF or CRLF), handing each line to a closure as a raw buffer
/// valid only during the call, with its 1-based line number. Memory is one block (grown only
/// for a line longer than the block).
final class LineScanner {
  private let stream: ByteStream
  private var buffer: UnsafeMutableRawBufferPointer
  private var start = 0
  private var end = 0
  private(set) var lineNumber = 0
  /// Decompressed bytes handed out so far.
  private(set) var bytesScanned: Int64 = 0

  init(stream: ByteStream, blockSize: Int = 8 << 20) {
    self.stream = stream
    buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: blockSize, alignment: 64)
  }

  deinit { buffer.deallocate() }

  /// Calls `body` for each line; stops early when it returns false.
  func forEachLine(_ body: (UnsafeRawBufferPointer, Int) throws(MTFQIError) -> Bool) throws(MTFQIError) {
    var eof = false
    while true {
      // Hand out every complete line in the buffer.
      while start < end {
        let base = buffer.baseAddress! + start
        guard let newline = memchr(base, 0x0A, end - start) else { break }
        let length = newline - base
        var lineLength = length
        if lineLength > 0 && base.load(fromByteOffset: lineLength - 1, as: UInt8.self) == 0x0D { lineLength -= 1 }
        lineNumber += 1
        start += length + 1
        bytesScanned += Int64(length + 1)
        if try !body(UnsafeRawBufferPointer(start: base, count: lineLength), lineNumber) { return }
      }
      if eof {
        if start < end {
          // Last line without a newline.
          var lineLength = end - start
          let base = buffer.baseAddress! + start
          if base.load(fromByteOffset: lineLength - 1, as: UInt8.self) == 0x0D { lineLength -= 1 }
          lineNumber += 1
          bytesScanned += Int64(end - start)
          start = end
          _ = try body(UnsafeRawBufferPointer(start: base, count: lineLength), lineNumber)
        }
        return
      }
      // Move the partial line to the front, grow for very long lines, and refill.
      if start > 0 {
        let remaining = end - start
        if remaining > 0 { memmove(buffer.baseAddress!, buffer.baseAddress! + start, remaining) }
        start = 0
        end = remaining
      }
      if end == buffer.count {
        let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: buffer.count * 2, alignment: 64)
        bigger.baseAddress!.copyMemory(from: buffer.baseAddress!, byteCount: end)
        buffer.deallocate()
        buffer = bigger
      }
      let n = try stream.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[end...]))
      if n == 0 { eof = true } else { end += n }
    }
  }

  /// The stream the scanner reads from.
  var source: ByteStream { stream }

  /// The size of the scanner's buffer (8 MiB, more after a longer line).
  var capacity: Int { buffer.count }

  /// Hands over the bytes read from the stream but not handed out yet (the scanner is left
  /// empty), for a reader that continues on the stream itself.
  func takeBuffered() -> [UInt8] {
    let rest = Array(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[start..<end]))
    start = end
    return rest
  }
}

/// Reads blocks of whole lines on a background thread, ahead of the parsers, so that reading,
/// gzip inflation and hashing overlap with parsing. The stream is read straight into block
/// buffers taken from a small pool (nothing is copied but the partial line carried from the end
/// of one block to the start of the next), and a plain file's bytes are hashed after the block
/// is handed out, so parsing need not wait for the hash.
///
/// The file is cut exactly as the reader before it cut it: blocks of the scanner's buffer size
/// (8 MiB; doubled for good by a longer line) ending at their last newline, each split in two
/// at the first newline after its middle (from 64 KiB). A task's datasets take their chunk
/// length from its first batch, so the same parts keep the stores' chunk shapes as they were.
/// At most `depth` blocks wait in memory.
final class PrefetchingBlockReader: @unchecked Sendable {
  /// A block buffer shared by the parts cut from it; back in the pool when all are parsed.
  final class SharedBuffer {
    let buffer: UnsafeMutableRawBufferPointer
    fileprivate var partsLeft: Int

    fileprivate init(_ buffer: UnsafeMutableRawBufferPointer, parts: Int) {
      self.buffer = buffer
      partsLeft = parts
    }
  }

  /// What `next()` hands out, numbered in file order.
  enum Item {
    /// Whole lines (the last part may lack its final newline); give the buffer back with
    /// `recycle` once the bytes are no longer needed.
    case part(UnsafeRawBufferPointer, buffer: SharedBuffer)
    case end
    /// The stream failed (a corrupt gzip stream, say) after the parts numbered before it.
    case failure(MTFQIError)
  }

  private let stream: ByteStream
  /// Bytes the line scanner had read past the lines it handed out: the first block starts there.
  private let buffered: [UInt8]
  private var blockSize: Int
  private let depth: Int
  private let condition = NSCondition()
  private var queue: [(part: UnsafeRawBufferPointer, buffer: SharedBuffer)] = []
  private var waitingBlocks = 0
  private var spare: [UnsafeMutableRawBufferPointer] = []
  private var handedOut = 0
  private var finished = false
  private var failure: MTFQIError?
  private var cancelled = false
  private var started = false

  /// Continues after the lines `scanner` handed out, on its stream.
  init(scanner: LineScanner, depth: Int = 1) {
    stream = scanner.source
    buffered = scanner.takeBuffered()
    blockSize = scanner.capacity
    self.depth = depth
  }

  deinit {
    for buffer in spare { buffer.deallocate() }
    var freed = Set<ObjectIdentifier>()
    for entry in queue where freed.insert(ObjectIdentifier(entry.buffer)).inserted { entry.buffer.buffer.deallocate() }
  }

  /// Starts the reader thread.
  func start() {
    condition.lock()
    started = true
    condition.unlock()
    let thread = Thread { [self] in
      do throws(MTFQIError) {
        try produce()
      } catch {
        condition.lock()
        if !cancelled { failure = error }
        condition.unlock()
      }
      condition.lock()
      finished = true
      condition.broadcast()
      condition.unlock()
    }
    thread.stackSize = 1 << 20
    thread.start()
  }

  /// Stops the reader and waits for its thread, so nothing touches the stream afterwards.
  func stop() {
    condition.lock()
    cancelled = true
    condition.broadcast()
    while started && !finished { condition.wait() }
    condition.unlock()
  }

  /// The next item and its number (0, 1, 2, ... in file order); waits until one is ready.
  /// After the end or a failure every further call gets the same again, numbered on.
  func next() -> (sequence: Int, item: Item) {
    condition.lock()
    defer { condition.unlock() }
    while queue.isEmpty && !finished && !cancelled { condition.wait() }
    let sequence = handedOut
    handedOut += 1
    if !queue.isEmpty && !cancelled {
      let entry = queue.removeFirst()
      if queue.first.map({ $0.buffer !== entry.buffer }) ?? true { waitingBlocks -= 1 }
      condition.broadcast()
      return (sequence, .part(entry.part, buffer: entry.buffer))
    }
    if let failure { return (sequence, .failure(failure)) }
    return (sequence, .end)
  }

  /// Gives a part's buffer back (it is reused once every part cut from it is parsed).
  func recycle(_ shared: SharedBuffer) {
    condition.lock()
    shared.partsLeft -= 1
    if shared.partsLeft == 0 { spare.append(shared.buffer) }
    condition.unlock()
  }

  /// A buffer from the pool, or a new one (of at least `minimum` bytes).
  private func takeBuffer(minimum: Int) -> UnsafeMutableRawBufferPointer {
    condition.lock()
    let index = spare.firstIndex { $0.count >= minimum }
    let reused = index.map { spare.remove(at: $0) }
    condition.unlock()
    return reused ?? UnsafeMutableRawBufferPointer.allocate(byteCount: max(minimum, blockSize), alignment: 64)
  }

  /// The reader thread: fills blocks, cuts each after its last newline and in two, queues the
  /// parts, then hashes what it read.
  private func produce() throws(MTFQIError) {
    var carry = buffered
    var eof = false
    while true {
      var buffer = takeBuffer(minimum: blockSize)
      var filled = carry.count
      carry.withUnsafeBytes { bytes in
        if let source = bytes.baseAddress, let target = buffer.baseAddress {
          target.copyMemory(from: source, byteCount: bytes.count)
        }
      }
      // Bytes from `unhashed` to `filled` were read but not hashed yet.
      var unhashed = filled
      func hashPending() {
        if unhashed < filled {
          stream.hash(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[unhashed..<filled]))
          unhashed = filled
        }
      }
      var blockEnd = 0
      do throws(MTFQIError) {
        while true {
          while !eof && filled < blockSize {
            let target = UnsafeMutableRawBufferPointer(rebasing: buffer[filled..<blockSize])
            let n: Int
            if let unhashedCount = try stream.readUnhashed(into: target) {
              n = unhashedCount
            } else {
              hashPending()
              n = try stream.read(into: target)
              unhashed += n
            }
            if n == 0 { eof = true } else { filled += n }
          }
          if eof {
            blockEnd = filled
            break
          }
          // Cut after the last newline; a line longer than the block doubles the block size
          // from here on.
          var last = filled - 1
          while last >= 0 && buffer[last] != 0x0A { last -= 1 }
          if last >= 0 {
            blockEnd = last + 1
            break
          }
          blockSize *= 2
          let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: blockSize, alignment: 64)
          if let destination = bigger.baseAddress, let source = buffer.baseAddress {
            destination.copyMemory(from: source, byteCount: filled)
          }
          buffer.deallocate()
          buffer = bigger
        }
      } catch {
        buffer.deallocate()
        throw error
      }
      if blockEnd == 0 {
        hashPending()
        condition.lock()
        spare.append(buffer)
        condition.unlock()
        return
      }
      let parts = Self.split(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[0..<blockEnd]))
      let shared = SharedBuffer(buffer, parts: parts.count)
      condition.lock()
      while waitingBlocks >= depth && !cancelled { condition.wait() }
      let stop = cancelled
      if !stop {
        for part in parts { queue.append((part, shared)) }
        waitingBlocks += 1
      }
      condition.broadcast()
      condition.unlock()
      if stop {
        buffer.deallocate()
        return
      }
      // The parsers only read the buffer, so it can be hashed while they parse it; it goes
      // back to the pool only through `recycle`, and only this thread takes from the pool.
      hashPending()
      carry = Array(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[blockEnd..<filled]))
      if eof && carry.isEmpty { return }
    }
  }

  /// A block in two at the first newline at or after its middle (blocks under 64 KiB, or
  /// whose second half would be empty, stay whole).
  static func split(_ block: UnsafeRawBufferPointer) -> [UnsafeRawBufferPointer] {
    guard block.count >= 1 << 16, let base = block.baseAddress else { return [block] }
    let middle = block.count / 2
    guard let newline = memchr(base + middle, 0x0A, block.count - middle) else { return [block] }
    let cut = UnsafeRawPointer(newline) - base + 1
    guard cut < block.count else { return [block] }
    return [
      UnsafeRawBufferPointer(rebasing: block[0..<cut]), UnsafeRawBufferPointer(rebasing: block[cut..<block.count]),
    ]
  }
}
