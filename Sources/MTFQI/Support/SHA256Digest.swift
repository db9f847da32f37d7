import Foundation
internal import Crypto

/// Incremental SHA-256 (swift-crypto), hex-encoded, for the provenance of every source file.
public struct SHA256Digest {
  private var hasher = SHA256()

  public init() {}

  public mutating func update(_ bytes: UnsafeRawBufferPointer) {
    hasher.update(bufferPointer: bytes)
  }

  /// The lowercase hex digest; the digest is final after this call.
  public func hexDigest() -> String {
    hasher.finalize().map { byte in
      let hex = String(byte, radix: 16)
      return byte < 16 ? "0" + hex : hex
    }.joined()
  }

  /// The digest of a whole file, read in 1 MiB blocks.
  public static func ofFile(_ path: String) throws(MTFQIError) -> String {
    guard let handle = fopen(path, "rb") else {
      throw MTFQIError.io(path: path, message: "cannot open: \(String(cString: strerror(errno)))")
    }
    defer { fclose(handle) }
    var digest = SHA256Digest()
    var buffer = [UInt8](repeating: 0, count: 1 << 20)
    while true {
      let count = buffer.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, handle) }
      if count == 0 { break }
      buffer.withUnsafeBytes { digest.update(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
    }
    if ferror(handle) != 0 {
      throw MTFQIError.io(path: path, message: "read error")
    }
    return digest.hexDigest()
  }
}
