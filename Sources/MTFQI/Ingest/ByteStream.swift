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

  /// Reads up to `buffer.count` decompressed bytes; 0 at the end of the data.
  func read(into buffer: UnsafeMutableRawBufferPointer) throws(MTFQIError) -> Int {
    guard buffer.count > 0 else { return 0 }
    if !isGzip {
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

  /// Hands out the rest of the stream as blocks of whole lines (the last may lack its newline),
  /// each with the number of lines before it, for parsers that work on many lines at once.
  func forEachBlock(_ body: (UnsafeRawBufferPointer, Int) throws(MTFQIError) -> Void) throws(MTFQIError) {
    var eof = false
    while true {
      // Fill the buffer as far as it goes.
      if start > 0 {
        let remaining = end - start
        if remaining > 0 { memmove(buffer.baseAddress!, buffer.baseAddress! + start, remaining) }
        start = 0
        end = remaining
      }
      while !eof && end < buffer.count {
        let n = try stream.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[end...]))
        if n == 0 { eof = true } else { end += n }
      }
      if start == end && eof { return }
      var blockEnd = end
      if !eof {
        // Cut after the last newline; a line longer than the buffer grows it.
        var last = end - 1
        while last >= start && buffer[last] != 0x0A { last -= 1 }
        if last < start {
          let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: buffer.count * 2, alignment: 64)
          bigger.baseAddress!.copyMemory(from: buffer.baseAddress!, byteCount: end)
          buffer.deallocate()
          buffer = bigger
          continue
        }
        blockEnd = last + 1
      }
      let block = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[start..<blockEnd])
      var newlines = 0
      var cursor = block.baseAddress!
      let stop = block.baseAddress! + block.count
      while cursor < stop, let found = memchr(cursor, 0x0A, stop - cursor) {
        newlines += 1
        cursor = UnsafeRawPointer(found) + 1
      }
      let linesBefore = lineNumber
      try body(block, linesBefore)
      lineNumber += newlines + (cursor < stop ? 1 : 0)
      bytesScanned += Int64(block.count)
      start = blockEnd
      if eof && start == end { return }
    }
  }
}

/// Reads blocks of whole lines on a background thread, one or two blocks ahead of the consumer,
/// so that reading, gzip inflation and hashing overlap with parsing. Each block is a private copy
/// (the consumer may hold it while the next one is read). At most `depth` blocks wait in memory.
final class PrefetchingBlockReader: @unchecked Sendable {
  private let scanner: LineScanner
  private let condition = NSCondition()
  private var queue: [(bytes: [UInt8], linesBefore: Int)] = []
  private var spare: [[UInt8]] = []
  private var finished = false
  private var failure: MTFQIError?
  private var cancelled = false
  private let depth: Int

  init(scanner: LineScanner, depth: Int = 2) {
    self.scanner = scanner
    self.depth = depth
  }

  /// Calls `body` for each block in order. A failure of the reader (a corrupt gzip stream, say)
  /// is thrown after the blocks before it were handed out; a failure of `body` stops the reader.
  func forEachBlock(_ body: (UnsafeRawBufferPointer, Int) throws(MTFQIError) -> Void) throws(MTFQIError) {
    let thread = Thread { [self] in
      do throws(MTFQIError) {
        try scanner.forEachBlock { (block, linesBefore) throws(MTFQIError) in
          // Reuse a buffer the consumer has finished with (fresh 8 MiB arrays cost page faults).
          condition.lock()
          var copy = spare.popLast() ?? []
          condition.unlock()
          copy.removeAll(keepingCapacity: true)
          copy.append(contentsOf: block)
          condition.lock()
          while queue.count >= depth && !cancelled { condition.wait() }
          let stop = cancelled
          if !stop { queue.append((copy, linesBefore)) }
          condition.broadcast()
          condition.unlock()
          if stop { throw MTFQIError.invalidInput("cancelled") }
        }
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
    defer {
      // Stop the reader and wait for it, so nothing touches the stream after we return.
      condition.lock()
      cancelled = true
      condition.broadcast()
      while !finished { condition.wait() }
      condition.unlock()
    }
    while true {
      condition.lock()
      while queue.isEmpty && !finished { condition.wait() }
      if queue.isEmpty {
        let error = failure
        condition.unlock()
        if let error { throw error }
        return
      }
      let next = queue.removeFirst()
      condition.broadcast()
      condition.unlock()
      var bodyFailure: MTFQIError?
      next.bytes.withUnsafeBytes { bytes in
        do throws(MTFQIError) {
          try body(bytes, next.linesBefore)
        } catch {
          bodyFailure = error
        }
      }
      if let bodyFailure { throw bodyFailure }
      condition.lock()
      spare.append(next.bytes)
      condition.unlock()
    }
  }
}
