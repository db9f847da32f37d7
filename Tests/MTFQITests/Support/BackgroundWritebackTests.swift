import Foundation
import Testing

@testable import MTFQI

/// The background writeback of outputs being written: it changes when data reach the disk,
/// never what is in the file.
@Suite("Support: background writeback of a growing output")
struct BackgroundWritebackTests {
  @Test("A file written while the writeback runs has exactly the bytes written")
  func bytesUnchanged() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-writeback")
    let path = directory.file("output")
    #expect(FileManager.default.createFile(atPath: path, contents: nil), "cannot create \(path)")
    let writeback = try #require(BackgroundWriteback(path: path, interval: 0.001, step: 65_536))
    let handle = try #require(FileHandle(forWritingAtPath: path))
    var expected = Data()
    for block in 0..<64 {
      let bytes = Data((0..<65_536).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ block) })
      try handle.write(contentsOf: bytes)
      expected.append(bytes)
    }
    try handle.close()
    writeback.stop()
    #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == expected)
  }

  @Test("No writeback for a path that cannot be opened")
  func missingPath() {
    #expect(BackgroundWriteback(path: "/nonexistent-mtfqi-directory/store.h5") == nil)
  }
}
