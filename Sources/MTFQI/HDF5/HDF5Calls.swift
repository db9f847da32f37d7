internal import CHDF5
import Foundation

/// An HDF5 id that exactly one owner closes: `deinit` calls the close function of its kind
/// (`H5Pclose`, `H5Sclose`, `H5Tclose`, `H5Aclose`, `H5Dclose`). Made only by `H5.owned`, from a
/// checked id; `release()` hands the id to a longer-lived owner (an `HDF5Dataset`) instead.
struct H5Owned: ~Copyable {
  enum Kind { case propertyList, dataspace, datatype, attribute, dataset, group, file }
  let id: hid_t
  let kind: Kind

  fileprivate init(id: hid_t, kind: Kind) {
    self.id = id
    self.kind = kind
  }

  deinit { H5.close(id, kind) }

  /// The id, no longer closed here: the caller's new owner closes it.
  consuming func release() -> hid_t {
    let id = self.id
    discard self
    return id
  }
}

/// The one place that knows HDF5's C conventions: negative `hid_t`/`herr_t`/`htri_t` means
/// failure and the reason is on the library's error stack. Every id and status the files of
/// HDF5/ get from the library is checked by `check`, `checkBool`, `owned` or one of the named
/// calls below (which name the C function they wrap); temporary ids are `H5Owned`, so each is
/// closed exactly once, also on the error paths. Only this folder imports CHDF5.
///
/// Thread safety, as installed: Debian's libhdf5 (1.10.8, hdf5-serial) is built thread-safe
/// (`libhdf5.settings`: "Threadsafety: yes"; `H5.isLibraryThreadSafe`): every API call takes one
/// global lock, so calls from several threads are safe but never run in parallel, and the error
/// stack and the automatic error printing are per thread (see `ensureInitialized`). The Swift
/// objects here (`HDF5File`, `HDF5Dataset` with its row count) are not synchronised: one thread
/// uses an object at a time.
enum H5 {
  /// Library initialisation: `H5open` and `H5Eset_auto2(H5E_DEFAULT, nil, nil)` so that the
  /// library never prints to stderr itself; errors are read from the stack instead.
  ///
  /// `H5dont_atexit` first: the library's exit handler closes the files still open, and a file
  /// whose writes failed (a full disk) makes it crash there, after the error was reported.
  /// mtfqi closes every output itself before renaming it, so nothing is lost at exit.
  static let initialized: Bool = {
    _ = H5dont_atexit()
    _ = mtfqi_H5open()
    _ = H5Eset_auto2(mtfqi_H5E_DEFAULT(), nil, nil)
    return true
  }()

  /// Call before HDF5 work on any thread: the library is initialised once, and its error printing
  /// is switched off for the calling thread (it is a per-thread setting in thread-safe builds).
  static func ensureInitialized() {
    _ = initialized
    mtfqi_H5_quiet_thread()
  }

  /// A file access property list with HDF5's file locking off. HDF5 1.10 opens files without
  /// close-on-exec and locks them, so a child process started while a file is open would keep
  /// the lock; mtfqi never shares a file being written (it writes to a private temporary file),
  /// so the lock protects nothing here.
  static func fileAccessList(file: String) throws(HDF5Error) -> H5Owned {
    let fapl = try owned(H5Pcreate(mtfqi_H5P_FILE_ACCESS()), .propertyList, "create file access list", file: file, object: "/")
    try check(H5Pset_file_locking(fapl.id, false, true), "switch off file locking", file: file, object: "/")
    return fapl
  }

  /// Walks the default error stack (`H5Ewalk2`, innermost first) and clears it (`H5Eclear2`).
  static func takeErrorStack() -> [String] {
    final class Box { var lines: [String] = [] }
    let box = Box()
    let unmanaged = Unmanaged.passRetained(box)
    defer { unmanaged.release() }
    _ = H5Ewalk2(
      mtfqi_H5E_DEFAULT(), H5E_WALK_UPWARD,
      { _, desc, clientData in
        guard let desc, let clientData else { return 0 }
        let box = Unmanaged<Box>.fromOpaque(clientData).takeUnretainedValue()
        let function = desc.pointee.func_name.map { String(cString: $0) } ?? "?"
        var text = desc.pointee.desc.map { String(cString: $0) } ?? ""
        var minor = [CChar](repeating: 0, count: 256)
        if H5Eget_msg(desc.pointee.min_num, nil, &minor, 256) > 0 {
          let minorText = String(decoding: minor.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
          if !minorText.isEmpty && !text.contains(minorText) { text += " [\(minorText)]" }
        }
        box.lines.append("\(function): \(text)")
        return 0
      }, unmanaged.toOpaque())
    _ = H5Eclear2(mtfqi_H5E_DEFAULT())
    return box.lines
  }

  /// The one-line reason of a write that failed for want of space (ENOSPC, EDQUOT), with the
  /// bytes the file holds; nil for other failures. HDF5's own stack would say it in ten lines.
  static func diskFull(_ stack: [String], file: String) -> String? {
    let full = stack.contains { $0.contains("errno = 28") || $0.contains("No space left on device") }
    let quota = stack.contains { $0.contains("errno = 122") || $0.contains("Disk quota exceeded") }
    guard full || quota else { return nil }
    var info = stat()
    let bytes = stat(file, &info) == 0 ? Int64(info.st_size) : 0
    return "\(full ? "no space left on the device" : "the disk quota is exceeded") after writing \(bytes) bytes"
  }

  /// Checks an id-returning call.
  @discardableResult
  static func check(
    _ id: hid_t, _ operation: @autoclosure () -> String, file: String, object: String
  ) throws(HDF5Error) -> hid_t {
    if id < 0 {
      let stack = takeErrorStack()
      if let reason = diskFull(stack, file: file) {
        throw HDF5Error(operation: operation(), file: file, objectPath: object, reason: reason)
      }
      throw HDF5Error(operation: operation(), file: file, objectPath: object, stack: stack)
    }
    return id
  }

  /// Checks a status-returning call.
  static func check(
    _ status: herr_t, _ operation: @autoclosure () -> String, file: String, object: String
  ) throws(HDF5Error) {
    if status < 0 {
      let stack = takeErrorStack()
      if let reason = diskFull(stack, file: file) {
        throw HDF5Error(operation: operation(), file: file, objectPath: object, reason: reason)
      }
      throw HDF5Error(operation: operation(), file: file, objectPath: object, stack: stack)
    }
  }

  /// Checks a tri-state (htri_t) call and returns its truth value.
  static func checkBool(
    _ value: htri_t, _ operation: @autoclosure () -> String, file: String, object: String
  ) throws(HDF5Error) -> Bool {
    if value < 0 {
      throw HDF5Error(
        operation: operation(), file: file, objectPath: object, stack: takeErrorStack())
    }
    return value > 0
  }

  static var propertyDefault: hid_t { mtfqi_H5P_DEFAULT() }

  /// Whether the loaded library was built thread-safe (`H5is_library_threadsafe`); nil when the
  /// library cannot say.
  static var isLibraryThreadSafe: Bool? {
    ensureInitialized()
    var safe: hbool_t = false
    guard H5is_library_threadsafe(&safe) >= 0 else {
      _ = takeErrorStack()
      return nil
    }
    return safe
  }

  // MARK: Owned ids and closing

  /// Checks an id-returning call and makes `kind`'s owner of it.
  static func owned(
    _ id: hid_t, _ kind: H5Owned.Kind, _ operation: @autoclosure () -> String, file: String,
    object: String
  ) throws(HDF5Error) -> H5Owned {
    H5Owned(id: try check(id, operation(), file: file, object: object), kind: kind)
  }

  /// Closes an id with the close function of its kind, from a `deinit`: a failed close leaves
  /// nothing to do there (the id is gone either way; `HDF5File.close()` checks a file's last
  /// writes with `closeFile`), so its status is only cleared from the error stack.
  static func close(_ id: hid_t, _ kind: H5Owned.Kind) {
    let status: herr_t
    switch kind {
    case .propertyList: status = H5Pclose(id)
    case .dataspace: status = H5Sclose(id)
    case .datatype: status = H5Tclose(id)
    case .attribute: status = H5Aclose(id)
    case .dataset: status = H5Dclose(id)
    case .group: status = H5Gclose(id)
    case .file: status = H5Fclose(id)
    }
    if status < 0 { _ = H5Eclear2(mtfqi_H5E_DEFAULT()) }
  }

  /// `H5Fclose`, checked: the status says whether the file's last buffers reached the disk.
  static func closeFile(_ id: hid_t, path: String) throws(HDF5Error) {
    try check(H5Fclose(id), "close file", file: path, object: "/")
  }

  // MARK: Property lists

  /// `H5Pset_obj_track_times(list, false)`: no modification times in object headers, so the same
  /// content gives the same bytes (the stores' and models' byte-determinism rests on it).
  static func disableTimestamps(
    _ list: borrowing H5Owned, _ operation: @autoclosure () -> String, file: String, object: String
  ) throws(HDF5Error) {
    try check(H5Pset_obj_track_times(list.id, false), operation(), file: file, object: object)
  }

  /// `H5Dget_create_plist`: a dataset's creation properties (layout, chunks, filters).
  static func creationProperties(ofDataset dataset: hid_t, file: String, object: String)
    throws(HDF5Error) -> H5Owned
  {
    try owned(H5Dget_create_plist(dataset), .propertyList, "read creation properties", file: file, object: object)
  }

  /// `H5Dget_type`: a dataset's stored datatype.
  static func datatype(ofDataset dataset: hid_t, file: String, object: String) throws(HDF5Error) -> H5Owned {
    try owned(H5Dget_type(dataset), .datatype, "read dataset type", file: file, object: object)
  }

  /// `H5Pget_nfilters`: how many filters (compression, shuffle) a creation list holds.
  static func filterCount(_ list: borrowing H5Owned, file: String, object: String) throws(HDF5Error) -> Int {
    let count = H5Pget_nfilters(list.id)
    try check(herr_t(min(count, 0)), "read filters", file: file, object: object)
    return Int(count)
  }

  /// `H5Pget_chunk`: the chunk shape of a chunked layout, nil for a contiguous or compact one
  /// (`H5Pget_layout`).
  static func chunkShape(_ list: borrowing H5Owned, file: String, object: String) throws(HDF5Error) -> [Int]? {
    let layout = H5Pget_layout(list.id)
    if layout.rawValue < 0 {
      throw HDF5Error(operation: "read layout", file: file, objectPath: object, stack: takeErrorStack())
    }
    guard layout == H5D_CHUNKED else { return nil }
    var dims = [hsize_t](repeating: 0, count: 32)
    let rank = H5Pget_chunk(list.id, 32, &dims)
    try check(herr_t(min(rank, 0)), "read chunk shape", file: file, object: object)
    return dims.prefix(Int(rank)).map { Int($0) }
  }

  /// `H5Pget_filter2`: the name of filter `index` of a creation list ("deflate" and "shuffle"
  /// for HDF5's own, otherwise the name the file records).
  static func filterName(_ list: borrowing H5Owned, index: Int, file: String, object: String)
    throws(HDF5Error) -> String
  {
    var flags: UInt32 = 0
    var elements = 8
    var values = [UInt32](repeating: 0, count: 8)
    var name = [CChar](repeating: 0, count: 64)
    var config: UInt32 = 0
    let filter = H5Pget_filter2(list.id, UInt32(index), &flags, &elements, &values, 64, &name, &config)
    try check(herr_t(min(filter, 0)), "read filter \(index)", file: file, object: object)
    switch filter {
    case H5Z_FILTER_DEFLATE: return "deflate"
    case H5Z_FILTER_SHUFFLE: return "shuffle"
    default: return String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
  }
}
