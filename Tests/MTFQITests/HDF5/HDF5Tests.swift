import Foundation
import Testing

@testable import MTFQI

/// The Swift HDF5 layer: typed round trips, appends across chunks, attributes, listings,
/// lossless-only reads, object copies, determinism, compression, and errors with their messages.
@Suite("HDF5 layer")
struct HDF5Tests {
  // MARK: Helpers

  /// A file in a fresh temporary directory (the directory lives as long as the returned value).
  private static func scratch(_ name: String = "test.h5") throws -> (
    directory: Fixtures.TemporaryDirectory, path: String
  ) {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-hdf5")
    return (directory, directory.file(name))
  }

  /// Values of every stored type, including each type's extremes; `index` picks the value so
  /// that neighbouring rows differ.
  private static func sample<T: SampleValue>(_: T.Type, _ index: Int) -> T {
    T.sample(index)
  }

  /// Bitwise equality, so that -0.0 differs from 0.0 and NaNs compare equal to themselves.
  private static func bits<T: HDF5Element>(_ values: [T]) -> [UInt8] {
    values.withUnsafeBytes { Array($0) }
  }

  /// Writes `rows` rows of `rowShape` in appends of 1, 2, 3, ... rows into a dataset with small
  /// chunks, reopens the file, and checks the type, shape, chunking and every value (whole and
  /// by row ranges that straddle chunk boundaries).
  private static func roundTrip<T: SampleValue>(
    _ type: T.Type, rowShape: [Int], rows: Int = 23, chunkRows: Int = 4
  ) throws {
    let (directory, path) = try Self.scratch("\(T.hdf5Type.name).h5")
    _ = directory
    let perRow = rowShape.reduce(1, *)
    let values = (0..<(rows * perRow)).map { sample(T.self, $0) }
    do {
      let file = try HDF5File.create(path)
      let dataset = try file.root().createExtendibleDataset(
        "data", type: T.hdf5Type, rowShape: rowShape, chunkRows: chunkRows)
      #expect(dataset.rows == 0)
      var written = 0
      var step = 1
      while written < rows {
        let count = min(step, rows - written)
        try dataset.append(Array(values[(written * perRow)..<((written + count) * perRow)]))
        written += count
        step += 1
        #expect(dataset.rows == written)
      }
      try file.close()
    }
    let file = try HDF5File.open(path)
    let dataset = try file.dataset("/data")
    #expect(dataset.elementType == T.hdf5Type)
    #expect(dataset.rowShape == rowShape)
    #expect(dataset.rows == rows)
    #expect(dataset.shape == [rows] + rowShape)
    #expect(try dataset.chunkShape() == [chunkRows] + rowShape)
    #expect(try dataset.filterNames() == [])
    #expect(try !dataset.holdsStrings())
    #expect(bits(try dataset.read(as: T.self)) == bits(values), "\(T.hdf5Type.name) \(rowShape)")
    for range in [0..<1, 3..<5, 2..<11, (rows - 1)..<rows, 4..<8, 0..<rows, 7..<7] {
      let expected = Array(values[(range.lowerBound * perRow)..<(range.upperBound * perRow)])
      #expect(bits(try dataset.readRows(range, as: T.self)) == bits(expected), "\(T.hdf5Type.name) rows \(range)")
    }
  }

  private static func expectHDF5Error(
    _ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation
  ) -> HDF5Error? {
    do {
      try body()
      Issue.record("expected an HDF5Error", sourceLocation: sourceLocation)
    } catch let error as HDF5Error {
      return error
    } catch {
      Issue.record("expected an HDF5Error, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
  }

  // MARK: Round trips

  @Test(
    "every stored type round-trips through extendible datasets of row shape [], [3], [2,2]",
    arguments: [[], [3], [2, 2]])
  func roundTripEveryType(rowShape: [Int]) throws {
    try Self.roundTrip(Double.self, rowShape: rowShape)
    try Self.roundTrip(Float.self, rowShape: rowShape)
    try Self.roundTrip(Int64.self, rowShape: rowShape)
    try Self.roundTrip(Int32.self, rowShape: rowShape)
    try Self.roundTrip(Int16.self, rowShape: rowShape)
    try Self.roundTrip(Int8.self, rowShape: rowShape)
    try Self.roundTrip(UInt64.self, rowShape: rowShape)
    try Self.roundTrip(UInt32.self, rowShape: rowShape)
    try Self.roundTrip(UInt16.self, rowShape: rowShape)
    try Self.roundTrip(UInt8.self, rowShape: rowShape)
  }

  @Test("the sample values cover the extremes (so the round trips test them)")
  func sampleValuesCoverExtremes() {
    #expect(Self.sample(Int8.self, 0) == Int8.min && Self.sample(Int8.self, 1) == Int8.max)
    #expect(Self.sample(UInt64.self, 0) == UInt64.max)
    #expect(Self.sample(Double.self, 1).sign == .minus && Self.sample(Double.self, 1) == 0)
    #expect(Self.sample(Double.self, 7) == .leastNonzeroMagnitude)
  }

  @Test("many small appends across chunk boundaries, read back whole and by row ranges")
  func appendsAcrossChunks() throws {
    let (directory, path) = try Self.scratch()
    _ = directory
    let width = 3
    var expected: [Double] = []
    do {
      let file = try HDF5File.create(path)
      let dataset = try file.root().createExtendibleDataset("x", type: .float64, rowShape: [width], chunkRows: 7)
      // 200 appends of 0...4 rows: about 400 rows over ~57 chunks, with appends that start and
      // end inside chunks, empty appends, and appends that span two chunks.
      for append in 0..<200 {
        let count = append % 5
        let values = (0..<(count * width)).map { Double(expected.count + $0) + 0.5 }
        try values.withUnsafeBufferPointer { buffer in try dataset.append(buffer, rows: count) }
        expected += values
      }
      #expect(dataset.rows == expected.count / width)
      try file.close()
    }
    let dataset = try HDF5File.open(path).dataset("/x")
    let rows = expected.count / width
    #expect(rows == 400)
    #expect(dataset.rows == rows)
    #expect(try dataset.read(as: Double.self) == expected)
    for start in stride(from: 0, to: rows, by: 13) {
      let end = min(rows, start + 17)
      #expect(try dataset.readRows(start..<end, as: Double.self) == Array(expected[(start * width)..<(end * width)]))
    }
    // Into a caller's buffer.
    var buffer = [Double](repeating: -1, count: 5 * width)
    try buffer.withUnsafeMutableBufferPointer { try dataset.readRows(395..<400, into: $0) }
    #expect(buffer == Array(expected[(395 * width)...]))
  }

  @Test("writeRows overwrites existing rows only")
  func overwriteRows() throws {
    let (directory, path) = try Self.scratch()
    _ = directory
    let file = try HDF5File.create(path)
    let dataset = try file.root().createExtendibleDataset("ids", type: .int64, chunkRows: 2)
    try dataset.append((0..<9).map(Int64.init))
    try [Int64(100), 101, 102].withUnsafeBufferPointer { try dataset.writeRows(3..<6, from: $0) }
    #expect(try dataset.read(as: Int64.self) == [0, 1, 2, 100, 101, 102, 6, 7, 8])
    let error = Self.expectHDF5Error {
      try [Int64(1), 2].withUnsafeBufferPointer { try dataset.writeRows(8..<10, from: $0) }
    }
    #expect(error?.reason == "the dataset has 9 rows")
    #expect(error?.operation == "write rows 8..<10")
    // A buffer of the wrong type is refused before anything is written.
    let typeError = Self.expectHDF5Error { try dataset.append([1.5]) }
    #expect(typeError?.reason == "stored as int64, given float64")
    #expect(try dataset.read(as: Int64.self).count == 9)
    // Values that do not make whole rows.
    let matrix = try file.root().createExtendibleDataset("m", type: .float32, rowShape: [2])
    let partial = Self.expectHDF5Error { try matrix.append([Float(1), 2, 3]) }
    #expect(partial?.reason == "3 values do not make whole rows of 2")
  }

  @Test("writeDataset writes a fixed-size dataset of any shape")
  func fixedSizeDataset() throws {
    let (directory, path) = try Self.scratch()
    _ = directory
    do {
      let file = try HDF5File.create(path)
      let root = try file.root()
      try root.writeDataset("matrix", [Float(1), 2, 3, 4, 5, 6], shape: [2, 3])
      try root.writeDataset("cube", (0..<24).map { UInt16($0) }, shape: [2, 3, 4])
      try root.writeDataset("vector", [Int8(-128), 0, 127], shape: [3])
      try root.writeDataset("empty", [Double](), shape: [0, 4])
      let wrong = Self.expectHDF5Error { try root.writeDataset("bad", [1.0, 2.0, 3.0], shape: [2, 2]) }
      #expect(wrong?.reason == "shape [2, 2] does not hold 3 values")
      #expect(wrong?.objectPath == "/bad")
      try file.close()
    }
    let file = try HDF5File.open(path)
    let matrix = try file.dataset("/matrix")
    #expect(matrix.shape == [2, 3])
    #expect(matrix.elementType == .float32)
    #expect(try matrix.chunkShape() == nil)
    #expect(try matrix.read(as: Float.self) == [1, 2, 3, 4, 5, 6])
    #expect(try matrix.readRows(1..<2, as: Double.self) == [4, 5, 6])
    let cube = try file.dataset("/cube")
    #expect(cube.shape == [2, 3, 4])
    #expect(cube.rowElements == 12)
    #expect(try cube.readRows(1..<2, as: UInt16.self) == (12..<24).map { UInt16($0) })
    #expect(try file.dataset("/vector").read(as: Int8.self) == [-128, 0, 127])
    let empty = try file.dataset("/empty")
    #expect(empty.shape == [0, 4])
    #expect(try empty.read(as: Double.self) == [])
    #expect(try file.root().memberNames() == ["cube", "empty", "matrix", "vector"])
  }

  // MARK: Attributes, listings

  @Test("string and numeric attributes, attributeNames, memberNames, kind(of:), contains, exists")
  func attributesAndListings() throws {
    let (directory, path) = try Self.scratch()
    _ = directory
    let text = "Grüße, 世界 🚀 — \"quoted\"\nsecond line"
    do {
      let file = try HDF5File.create(path)
      let root = try file.root()
      try root.setAttribute("text", text)
      try root.setAttribute("empty", "")
      try root.setAttribute("scale", 2.5)
      try root.setAttribute("count", Int64(-42))
      try root.setAttribute("flag", UInt8(1))
      try root.setAttribute("dims", values: [Int32(3), 4, 5])
      try root.setAttribute("bounds", values: [-1.5, Double.infinity])
      try root.setAttribute("single", values: [Int16(7)])  // a 1-d array of one value
      try root.setAttribute("replaced", "first")
      try root.setAttribute("replaced", "second")
      let group = try root.createGroup("tasks")
      let reach = try group.createGroup("reach")
      try reach.setAttribute("n_transitions", Int64(12))
      try reach.createExtendibleDataset("rewards", type: .float64).append([1.0, 2.0])
      _ = try group.createGroup("push")
      try root.writeDataset("z", [UInt8(1)], shape: [1])
      try file.close()
    }
    let file = try HDF5File.open(path)
    let root = try file.root()
    #expect(try root.stringAttribute("text") == text)
    #expect(try root.stringAttribute("empty") == "")
    #expect(try root.stringAttribute("replaced") == "second")
    #expect(try root.attributeIsString("text"))
    #expect(try !root.attributeIsString("scale"))
    #expect(try root.scalarAttribute("scale", as: Double.self) == 2.5)
    #expect(try root.scalarAttribute("count", as: Int64.self) == -42)
    #expect(try root.scalarAttribute("flag", as: UInt8.self) == 1)
    #expect(try root.scalarAttribute("flag", as: Int64.self) == 1)
    #expect(try root.numericAttribute("dims", as: Int32.self) == [3, 4, 5])
    #expect(try root.numericAttribute("dims", as: Int64.self) == [3, 4, 5])
    #expect(try root.numericAttribute("dims", as: Double.self) == [3, 4, 5])
    #expect(try root.numericAttribute("bounds", as: Double.self) == [-1.5, .infinity])
    #expect(try root.scalarAttribute("single", as: Int16.self) == 7)
    #expect(try root.hasAttribute("dims"))
    #expect(try !root.hasAttribute("nope"))
    #expect(
      try root.attributeNames() == ["bounds", "count", "dims", "empty", "flag", "replaced", "scale", "single", "text"])
    // Wrong kinds and lossy conversions are refused with a reason.
    #expect(
      Self.expectHDF5Error { _ = try root.scalarAttribute("dims", as: Int64.self) }?.reason
        == "expected one value, found 3")
    #expect(
      Self.expectHDF5Error { _ = try root.scalarAttribute("count", as: Int32.self) }?.reason
        == "stored as int64, cannot be read as int32 without loss")
    #expect(
      Self.expectHDF5Error { _ = try root.stringAttribute("scale") }?.reason
        == "expected a string attribute, found another type")
    #expect(
      Self.expectHDF5Error { _ = try root.numericAttribute("text", as: Double.self) }?.reason
        == "expected a number, found a non-numeric attribute")
    let missing = Self.expectHDF5Error { _ = try root.stringAttribute("nope") }
    #expect(missing?.operation == "read attribute 'nope'")
    #expect(missing?.stack.isEmpty == false)

    #expect(try root.memberNames() == ["tasks", "z"])
    let tasks = try file.group("/tasks")
    #expect(try tasks.memberNames() == ["push", "reach"])
    #expect(try tasks.group("push").memberNames() == [])
    #expect(try root.kind(of: "tasks") == .group)
    #expect(try root.kind(of: "z") == .dataset)
    #expect(try tasks.kind(of: "reach") == .group)
    #expect(Self.expectHDF5Error { _ = try root.kind(of: "nope") }?.objectPath == "/nope")
    #expect(try root.contains("tasks"))
    #expect(try !root.contains("reach"))
    #expect(try tasks.contains("reach"))
    #expect(try file.exists("/"))
    #expect(try file.exists("/tasks/reach/rewards"))
    #expect(try !file.exists("/tasks/reach/actions"))
    #expect(try !file.exists("/missing/deeper/still"))
    let reach = try file.group("/tasks/reach")
    #expect(reach.path == "/tasks/reach")
    #expect(try reach.scalarAttribute("n_transitions", as: Int64.self) == 12)
    #expect(try reach.dataset("rewards").path == "/tasks/reach/rewards")
    #expect(try file.dataset("/tasks/reach/rewards").read(as: Double.self) == [1, 2])
  }

  // MARK: Lossless reads

  @Test("reads convert only when no value can change")
  func losslessReadsOnly() throws {
    let (directory, path) = try Self.scratch()
    _ = directory
    let file = try HDF5File.create(path)
    let root = try file.root()
    let float32 = try root.writeDataset("f32", [Float(0.1), -2.5, .greatestFiniteMagnitude], shape: [3])
    let float64 = try root.writeDataset("f64", [0.1], shape: [1])
    let int32 = try root.writeDataset("i32", [Int32.min, Int32.max], shape: [2])
    let int64 = try root.writeDataset("i64", [Int64(1) << 53 + 1], shape: [1])
    let uint8 = try root.writeDataset("u8", [UInt8(255)], shape: [1])
    let uint32 = try root.writeDataset("u32", [UInt32.max], shape: [1])
    let int16 = try root.writeDataset("i16", [Int16.min], shape: [1])

    #expect(try float32.read(as: Double.self) == [Double(Float(0.1)), -2.5, Double(Float.greatestFiniteMagnitude)])
    #expect(try int32.read(as: Double.self) == [Double(Int32.min), Double(Int32.max)])
    #expect(try int32.read(as: Int64.self) == [Int64(Int32.min), Int64(Int32.max)])
    #expect(try uint8.read(as: Int16.self) == [255])
    #expect(try uint8.read(as: UInt64.self) == [255])
    #expect(try uint32.read(as: Int64.self) == [Int64(UInt32.max)])
    #expect(try int16.read(as: Float.self) == [Float(Int16.min)])

    let refused: [(String, () throws -> Void, String)] = [
      (
        "f64 as float32", { _ = try float64.read(as: Float.self) },
        "stored as float64, cannot be read as float32 without loss"
      ),
      (
        "i64 as float64", { _ = try int64.read(as: Double.self) },
        "stored as int64, cannot be read as float64 without loss"
      ),
      (
        "i32 as float32", { _ = try int32.read(as: Float.self) },
        "stored as int32, cannot be read as float32 without loss"
      ),
      ("i32 as int16", { _ = try int32.read(as: Int16.self) }, "stored as int32, cannot be read as int16 without loss"),
      ("u8 as int8", { _ = try uint8.read(as: Int8.self) }, "stored as uint8, cannot be read as int8 without loss"),
      (
        "u32 as int32", { _ = try uint32.read(as: Int32.self) },
        "stored as uint32, cannot be read as int32 without loss"
      ),
      (
        "i16 as uint64", { _ = try int16.read(as: UInt64.self) },
        "stored as int16, cannot be read as uint64 without loss"
      ),
      (
        "f32 as int64", { _ = try float32.read(as: Int64.self) },
        "stored as float32, cannot be read as int64 without loss"
      ),
    ]
    for (label, body, reason) in refused {
      let error = Self.expectHDF5Error(body)
      #expect(error?.reason == reason, "\(label)")
      #expect(error?.operation.hasPrefix("read rows") == true, "\(label)")
    }
    // The table itself, for every pair of types: lossless exactly when the value range fits.
    for source in HDF5ElementType.allCases {
      #expect(source.convertsLosslessly(to: source))
      #expect(source.convertsLosslessly(to: .float64) == (source != .int64 && source != .uint64))
    }
    #expect(HDF5ElementType.uint16.convertsLosslessly(to: .int32))
    #expect(!HDF5ElementType.uint16.convertsLosslessly(to: .int16))
    #expect(!HDF5ElementType.int8.convertsLosslessly(to: .uint64))
  }

  // MARK: Copies between files

  @Test("copy(_:to:) copies a group with its datasets, layout, filters and attributes into another file")
  func copyBetweenFiles() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-hdf5")
    let sourcePath = directory.file("source.h5")
    let targetPath = directory.file("target.h5")
    let observations = (0..<30).map { Float($0) / 4 }
    do {
      let source = try HDF5File.create(sourcePath)
      let task = try source.root().createGroup("task")
      try task.setAttribute("observation_space", #"{"type": "Box"}"#)
      try task.setAttribute("n_transitions", Int64(10))
      let dataset = try task.createExtendibleDataset(
        "observations", type: .float32, rowShape: [3], chunkRows: 4, compression: .deflate(level: 1))
      try dataset.append(observations)
      try task.writeDataset("episode", (0..<10).map { Int64($0 / 4) }, shape: [10])
      let target = try HDF5File.create(targetPath)
      let tasks = try target.root().createGroup("tasks")
      try source.root().copy("task", to: tasks)
      try source.root().copy("task", to: tasks, as: "renamed")
      try source.close()
      try target.close()
    }
    do {
      let target = try HDF5File.open(targetPath)
      #expect(try target.group("/tasks").memberNames() == ["renamed", "task"])
      for name in ["task", "renamed"] {
        let group = try target.group("/tasks/\(name)")
        #expect(try group.attributeNames() == ["n_transitions", "observation_space"])
        #expect(try group.stringAttribute("observation_space") == #"{"type": "Box"}"#)
        #expect(try group.scalarAttribute("n_transitions", as: Int64.self) == 10)
        let dataset = try group.dataset("observations")
        #expect(dataset.shape == [10, 3])
        #expect(try dataset.chunkShape() == [4, 3])
        #expect(try dataset.filterNames() == ["shuffle", "deflate"])
        #expect(try dataset.read(as: Float.self) == observations)
        #expect(try group.dataset("episode").read(as: Int64.self) == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2])
      }
    }
    // Copying onto an existing name fails with the HDF5 stack and both places named.
    let source = try HDF5File.open(sourcePath)
    let writable = try HDF5File.open(targetPath, writable: true)
    let error = Self.expectHDF5Error { try source.root().copy("task", to: writable.group("/tasks")) }
    #expect(error?.file == sourcePath)
    #expect(error?.objectPath == "/task")
    #expect(error?.operation == "copy to \(targetPath):/tasks/task")
    #expect(error?.stack.isEmpty == false)
  }

  // MARK: Errors

  @Test("opening a missing file or a non-HDF5 file says which and why")
  func openErrors() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-hdf5")
    let missingPath = directory.file("missing.h5")
    let missing = Self.expectHDF5Error { _ = try HDF5File.open(missingPath) }
    #expect(missing?.file == missingPath)
    #expect(missing?.objectPath == "/")
    #expect(missing?.operation == "open file")
    #expect(missing?.reason == "the file does not exist or cannot be read")
    #expect(missing?.description == "\(missingPath): /: cannot open file: the file does not exist or cannot be read")

    let textPath = directory.file("text.h5")
    try Data("episode,step\n0,0\n".utf8).write(to: URL(fileURLWithPath: textPath))
    let text = Self.expectHDF5Error { _ = try HDF5File.open(textPath) }
    #expect(text?.reason == "not an HDF5 file")
    #expect(text?.description.contains("not an HDF5 file") == true)
    #expect(text?.description.contains(textPath) == true)

    // Creating a file in a folder that does not exist: the stack says what libhdf5 saw.
    let nowhere = directory.file("no/such/folder/x.h5")
    let create = Self.expectHDF5Error { _ = try HDF5File.create(nowhere) }
    #expect(create?.operation == "create file")
    #expect(create?.file == nowhere)
    #expect(create?.stack.isEmpty == false)
  }

  @Test("a missing dataset or group: the error carries the file, the object path and the HDF5 stack")
  func missingObjects() throws {
    let (directory, path) = try Self.scratch()
    _ = directory
    do {
      let file = try HDF5File.create(path)
      _ = try file.root().createGroup("tasks")
      try file.close()
    }
    let file = try HDF5File.open(path)
    let error = Self.expectHDF5Error { _ = try file.dataset("/tasks/reach/rewards") }
    #expect(error?.file == path)
    #expect(error?.objectPath == "/tasks/reach/rewards")
    #expect(error?.operation == "open dataset")
    #expect(error?.reason == nil)
    let stack = error?.stack ?? []
    #expect(!stack.isEmpty)
    #expect(stack.allSatisfy { !$0.isEmpty })
    #expect(stack.joined().contains("H5D"), "the stack names the failing HDF5 function: \(stack)")
    let description = error?.description ?? ""
    #expect(description.hasPrefix("\(path): /tasks/reach/rewards: cannot open dataset (HDF5: "))
    let group = Self.expectHDF5Error { _ = try file.group("/tasks").group("reach") }
    #expect(group?.objectPath == "/tasks/reach")
    #expect(group?.operation == "open group")
    #expect(group?.stack.isEmpty == false)
    // Writing to a read-only file is refused by libhdf5, with its reason on the stack.
    let readOnly = Self.expectHDF5Error { _ = try file.root().createGroup("new") }
    #expect(readOnly?.objectPath == "/new")
    #expect(readOnly?.stack.isEmpty == false)
    // The stack is cleared after each error: a later success leaves nothing behind.
    #expect(H5.takeErrorStack() == [])
  }

  @Test("reading rows out of range names the range and the row count")
  func rowsOutOfRange() throws {
    let (directory, path) = try Self.scratch()
    _ = directory
    let file = try HDF5File.create(path)
    let dataset = try file.root().createExtendibleDataset("x", type: .int32, rowShape: [2], chunkRows: 3)
    try dataset.append((0..<20).map(Int32.init))
    for range in [5..<11, 10..<11, -1..<2] {
      let error = Self.expectHDF5Error { _ = try dataset.readRows(range, as: Int32.self) }
      #expect(error?.operation == "read rows \(range.lowerBound)..<\(range.upperBound)")
      #expect(error?.reason == "the dataset has 10 rows")
      #expect(error?.objectPath == "/x")
      #expect(error?.file == path)
      #expect(
        error?.description
          == "\(path): /x: cannot read rows \(range.lowerBound)..<\(range.upperBound): the dataset has 10 rows")
    }
    var small = [Int32](repeating: 0, count: 3)
    let buffer = Self.expectHDF5Error {
      try small.withUnsafeMutableBufferPointer { try dataset.readRows(0..<2, into: $0) }
    }
    #expect(buffer?.reason == "buffer holds 3 values, expected 4")
    #expect(try dataset.readRows(9..<10, as: Int32.self) == [18, 19])
  }

  // MARK: Determinism and compression

  /// Writes a small file with groups, attributes, extendible and fixed datasets.
  private static func writeSample(_ path: String, compression: HDF5Compression) throws {
    let file = try HDF5File.create(path)
    let root = try file.root()
    try root.setAttribute("format", "mtfqi.store")
    try root.setAttribute("format_version", Int64(1))
    let task = try root.createGroup("tasks").createGroup("reach")
    try task.setAttribute("sources", #"[{"path": "a.csv"}]"#)
    let observations = try task.createExtendibleDataset(
      "observations", type: .float64, rowShape: [2], chunkRows: 16, compression: compression)
    for block in 0..<5 {
      try observations.append((0..<(2 * 10)).map { Double(block * 20 + $0) * 0.1 })
    }
    let flags = try task.createExtendibleDataset("terminations", type: .uint8, compression: compression)
    try flags.append((0..<50).map { UInt8($0 % 7 == 0 ? 1 : 0) })
    try task.writeDataset("fixed", [Int64(1), 2, 3], shape: [3])
    try file.close()
  }

  @Test("the installed libhdf5 is built thread-safe, as HDF5Calls.swift and STYLE.md say")
  func libraryIsThreadSafe() {
    #expect(H5.isLibraryThreadSafe == true)
  }

  @Test("the same content gives byte-identical files (object timestamps are off)")
  func deterministicBytes() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-hdf5")
    let compressions: [HDF5Compression] = [.none, .deflate(level: 4)]
    for (index, compression) in compressions.enumerated() {
      try Self.writeSample(directory.file("first-\(index).h5"), compression: compression)
    }
    // Let the clock move so that any timestamp would differ.
    Thread.sleep(forTimeInterval: 1.1)
    for (index, compression) in compressions.enumerated() {
      try Self.writeSample(directory.file("second-\(index).h5"), compression: compression)
      let a = try Data(contentsOf: URL(fileURLWithPath: directory.file("first-\(index).h5")))
      let b = try Data(contentsOf: URL(fileURLWithPath: directory.file("second-\(index).h5")))
      #expect(a.count > 0)
      #expect(a == b, "\(compression): \(a.count) vs \(b.count) bytes")
    }
  }

  @Test("deflate(level: 4) lists the filters shuffle then deflate, and reads back exactly")
  func compressionFilters() throws {
    let directory = try Fixtures.TemporaryDirectory("mtfqi-hdf5")
    let compressed = directory.file("compressed.h5")
    let plain = directory.file("plain.h5")
    try Self.writeSample(compressed, compression: .deflate(level: 4))
    try Self.writeSample(plain, compression: .none)
    let file = try HDF5File.open(compressed)
    let observations = try file.dataset("/tasks/reach/observations")
    #expect(try observations.filterNames() == ["shuffle", "deflate"])
    #expect(try file.dataset("/tasks/reach/terminations").filterNames() == ["shuffle", "deflate"])
    #expect(try file.dataset("/tasks/reach/fixed").filterNames() == [])
    let reference = try HDF5File.open(plain)
    #expect(try reference.dataset("/tasks/reach/observations").filterNames() == [])
    #expect(
      try observations.read(as: Double.self)
        == reference.dataset("/tasks/reach/observations").read(as: Double.self))
    #expect(try observations.read(as: Double.self)[37] == Double(37) * 0.1)
    // Row ranges of a compressed dataset (opened with HDF5's chunk cache) and of a plain one
    // (opened without it: rows go straight from the file) read the same values.
    let whole = try reference.dataset("/tasks/reach/observations").read(as: Double.self)
    let plainObservations = try reference.dataset("/tasks/reach/observations")
    let width = observations.rowElements
    for start in stride(from: 0, to: observations.rows, by: 7) {
      let range = start..<min(observations.rows, start + 5)
      let expected = Array(whole[(range.lowerBound * width)..<(range.upperBound * width)])
      #expect(try observations.readRows(range, as: Double.self) == expected)
      #expect(try plainObservations.readRows(range, as: Double.self) == expected)
    }
  }
}

extension Array {
  fileprivate subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}

/// Test values of one stored type (see `sample(_:_:)`).
protocol SampleValue: HDF5Element {
  static func sample(_ index: Int) -> Self
}

extension Double: SampleValue {
  static func sample(_ index: Int) -> Double {
    let specials: [Double] = [
      0, -0.0, 1, -1, 0.1, 1e-300, -1e300, .leastNonzeroMagnitude, .greatestFiniteMagnitude, .infinity,
      -.infinity, 123_456_789.123_456_789,
    ]
    return (index < specials.count ? specials[index] : Double(index) * 0.25 - 7)
  }
}

extension Float: SampleValue {
  static func sample(_ index: Int) -> Float {
    let specials: [Float] = [0, -0.0, 1, -1, 0.1, .leastNonzeroMagnitude, .greatestFiniteMagnitude, .infinity]
    return (index < specials.count ? specials[index] : Float(index) * 0.5 - 3)
  }
}

extension Int64: SampleValue {
  static func sample(_ index: Int) -> Int64 {
    let value: Int64 = [Int64.min, .max, 0, -1][safe: index] ?? Int64(index) * 1_000_003 - 77
    return value
  }
}

extension Int32: SampleValue {
  static func sample(_ index: Int) -> Int32 {
    let value: Int32 = [Int32.min, .max, 0, -1][safe: index] ?? Int32(index) * 1009 - 5
    return value
  }
}

extension Int16: SampleValue {
  static func sample(_ index: Int) -> Int16 {
    let value: Int16 = [Int16.min, .max, 0, -1][safe: index] ?? Int16(index % 3000) - 1500
    return value
  }
}

extension Int8: SampleValue {
  static func sample(_ index: Int) -> Int8 {
    let value: Int8 = [Int8.min, .max, 0, -1][safe: index] ?? Int8(index % 200 - 100)
    return value
  }
}

extension UInt64: SampleValue {
  static func sample(_ index: Int) -> UInt64 {
    let value: UInt64 = [UInt64.max, 0, 1 << 63][safe: index] ?? UInt64(index) * 7
    return value
  }
}

extension UInt32: SampleValue {
  static func sample(_ index: Int) -> UInt32 {
    let value: UInt32 = [UInt32.max, 0][safe: index] ?? UInt32(index) * 13
    return value
  }
}

extension UInt16: SampleValue {
  static func sample(_ index: Int) -> UInt16 {
    let value: UInt16 = [UInt16.max, 0][safe: index] ?? UInt16(index % 60000)
    return value
  }
}

extension UInt8: SampleValue {
  static func sample(_ index: Int) -> UInt8 {
    let value: UInt8 = [UInt8.max, 0][safe: index] ?? UInt8(index % 250)
    return value
  }
}
