internal import CSupport

/// Process-wide settings of the C heap, for stages whose passes allocate and free large
/// buffers block after block.
public enum ProcessMemory {
  /// Keeps freed heap memory in the process (`mtfqi_keep_freed_memory`: glibc `mallopt` with a
  /// 1 GiB trim threshold and a 64 MiB mmap threshold).
  ///
  /// The coverage passes allocate and free block-sized buffers (a few MiB) for every row
  /// block; glibc would return the freed heap top to the kernel each time and fault it back in
  /// for the next block (measured: a third of the run time in page faults on 1M rows of 63
  /// floats). Returns false when the C library took neither setting (not glibc): the run is
  /// then only slower. Call it once, before the passes start; it changes no result.
  @discardableResult
  public static func keepFreedMemory() -> Bool {
    mtfqi_keep_freed_memory() == 1
  }
}
