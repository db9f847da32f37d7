internal import CHDF5
import Foundation

/// An open HDF5 file (`H5Fcreate` / `H5Fopen`). It owns its `hid_t` and closes it in `deinit`
/// (`H5Fclose`); groups and datasets keep a strong reference to their file, so the file is
/// closed only after the last object opened from it.
public final class HDF5File {
  public let path: String
  let id: hid_t
  private var isClosed = false
  /// The file's size in bytes when it was opened read-only (nil for a file being written): every
  /// dataset's declared size is checked against it before anything is allocated or read.
  let readOnlyByteSize: Int64?

  private init(path: String, id: hid_t, readOnlyByteSize: Int64? = nil) {
    self.path = path
    self.id = id
    self.readOnlyByteSize = readOnlyByteSize
  }

  deinit {
    if !isClosed { H5.close(id, .file) }
  }

  /// Creates (or truncates) a file. HDF5 object timestamps are off for the root group, so the
  /// same content gives the same bytes.
  public static func create(_ path: String) throws(HDF5Error) -> HDF5File {
    H5.ensureInitialized()
    let fcpl = try H5.owned(
      H5Pcreate(mtfqi_H5P_FILE_CREATE()), .propertyList, "create file property list", file: path, object: "/")
    try H5.disableTimestamps(fcpl, "switch off object timestamps", file: path, object: "/")
    let fapl = try H5.fileAccessList(file: path)
    let id = try H5.check(
      H5Fcreate(path, mtfqi_H5F_ACC_TRUNC(), fcpl.id, fapl.id), "create file",
      file: path, object: "/")
    return HDF5File(path: path, id: id)
  }

  /// Opens an existing file, read-only unless `writable`.
  public static func open(_ path: String, writable: Bool = false) throws(HDF5Error) -> HDF5File {
    H5.ensureInitialized()
    let crashContext = HDF5CrashContext.enter(file: path, object: "/")
    defer { HDF5CrashContext.leave(crashContext) }
    let isHDF5 = H5Fis_hdf5(path)
    if isHDF5 <= 0 {
      _ = H5.takeErrorStack()
      throw HDF5Error(
        operation: "open file", file: path, objectPath: "/",
        reason: isHDF5 == 0 ? "not an HDF5 file" : "the file does not exist or cannot be read")
    }
    let flags = writable ? mtfqi_H5F_ACC_RDWR() : mtfqi_H5F_ACC_RDONLY()
    let fapl = try H5.fileAccessList(file: path)
    let id = try H5.check(H5Fopen(path, flags, fapl.id), "open file", file: path, object: "/")
    var info = stat()
    let size: Int64? = !writable && stat(path, &info) == 0 ? Int64(info.st_size) : nil
    return HDF5File(path: path, id: id, readOnlyByteSize: size)
  }

  /// The root group "/".
  public func root() throws(HDF5Error) -> HDF5Group {
    try HDF5Group.open(in: self, parentID: id, name: "/", path: "/")
  }

  /// Opens a group by absolute path, e.g. "/tasks/reach".
  public func group(_ path: String) throws(HDF5Error) -> HDF5Group {
    try HDF5Group.open(in: self, parentID: id, name: path, path: path)
  }

  /// Opens a dataset by absolute path, e.g. "/tasks/reach/rewards".
  public func dataset(_ path: String) throws(HDF5Error) -> HDF5Dataset {
    try HDF5Dataset.open(in: self, parentID: id, name: path, path: path)
  }

  /// Whether a link exists at an absolute path; every intermediate group must exist too.
  public func exists(_ path: String) throws(HDF5Error) -> Bool {
    if path == "/" { return true }
    var prefix = ""
    for component in path.split(separator: "/") {
      prefix += "/" + component
      let exists = try H5.checkBool(
        H5Lexists(id, prefix, H5.propertyDefault), "look up link", file: self.path, object: prefix)
      if !exists { return false }
    }
    return true
  }

  /// Flushes buffers to disk (`H5Fflush`).
  public func flush() throws(HDF5Error) {
    try H5.check(H5Fflush(id, H5F_SCOPE_GLOBAL), "flush", file: path, object: "/")
  }

  /// Closes the file now and reports a failure to write its last buffers. The caller must hold
  /// no other object of this file; after `close` the file must not be used.
  public func close() throws(HDF5Error) {
    guard !isClosed else { return }
    isClosed = true
    try H5.closeFile(id, path: path)
  }
}
