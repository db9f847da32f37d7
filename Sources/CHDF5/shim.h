#ifndef MTFQI_CHDF5_SHIM_H
#define MTFQI_CHDF5_SHIM_H
// HDF5 1.10 (Debian libhdf5-dev, pkg-config hdf5-serial). Many public names are macros that
// expand to H5open() plus a global id; Swift cannot import those, so each gets a getter here.
#include <hdf5.h>

// --- Native types (H5Tpublic.h: H5T_NATIVE_* = H5OPEN H5T_NATIVE_*_g) ---
static inline hid_t mtfqi_H5T_NATIVE_DOUBLE(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t mtfqi_H5T_NATIVE_FLOAT(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t mtfqi_H5T_NATIVE_INT64(void) { return H5T_NATIVE_INT64; }
static inline hid_t mtfqi_H5T_NATIVE_INT32(void) { return H5T_NATIVE_INT32; }
static inline hid_t mtfqi_H5T_NATIVE_UINT8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t mtfqi_H5T_NATIVE_INT8(void) { return H5T_NATIVE_INT8; }
static inline hid_t mtfqi_H5T_NATIVE_UINT32(void) { return H5T_NATIVE_UINT32; }
static inline hid_t mtfqi_H5T_NATIVE_UINT64(void) { return H5T_NATIVE_UINT64; }
static inline hid_t mtfqi_H5T_NATIVE_INT16(void) { return H5T_NATIVE_INT16; }
static inline hid_t mtfqi_H5T_NATIVE_UINT16(void) { return H5T_NATIVE_UINT16; }
static inline hid_t mtfqi_H5T_NATIVE_HBOOL(void) { return H5T_NATIVE_HBOOL; }
/// Little-endian file types, so files are the same bytes on every machine.
static inline hid_t mtfqi_H5T_IEEE_F64LE(void) { return H5T_IEEE_F64LE; }
static inline hid_t mtfqi_H5T_IEEE_F32LE(void) { return H5T_IEEE_F32LE; }
static inline hid_t mtfqi_H5T_STD_I64LE(void) { return H5T_STD_I64LE; }
static inline hid_t mtfqi_H5T_STD_U8LE(void) { return H5T_STD_U8LE; }
static inline hid_t mtfqi_H5T_C_S1(void) { return H5T_C_S1; }
/// H5T_VARIABLE is ((size_t)-1).
static inline size_t mtfqi_H5T_VARIABLE(void) { return H5T_VARIABLE; }

// --- File access flags (H5Fpublic.h: H5F_ACC_* = H5CHECK H5OPEN value) ---
static inline unsigned mtfqi_H5F_ACC_RDONLY(void) { return H5F_ACC_RDONLY; }
static inline unsigned mtfqi_H5F_ACC_RDWR(void) { return H5F_ACC_RDWR; }
static inline unsigned mtfqi_H5F_ACC_TRUNC(void) { return H5F_ACC_TRUNC; }
static inline unsigned mtfqi_H5F_ACC_EXCL(void) { return H5F_ACC_EXCL; }

// --- Property list classes (H5Ppublic.h: H5P_* = H5OPEN H5P_CLS_*_ID_g) ---
static inline hid_t mtfqi_H5P_DEFAULT(void) { return H5P_DEFAULT; }
static inline hid_t mtfqi_H5P_FILE_CREATE(void) { return H5P_FILE_CREATE; }
static inline hid_t mtfqi_H5P_FILE_ACCESS(void) { return H5P_FILE_ACCESS; }
static inline hid_t mtfqi_H5P_DATASET_CREATE(void) { return H5P_DATASET_CREATE; }
static inline hid_t mtfqi_H5P_DATASET_ACCESS(void) { return H5P_DATASET_ACCESS; }
static inline hid_t mtfqi_H5P_GROUP_CREATE(void) { return H5P_GROUP_CREATE; }
static inline hid_t mtfqi_H5P_OBJECT_COPY(void) { return H5P_OBJECT_COPY; }
static inline hid_t mtfqi_H5P_ATTRIBUTE_CREATE(void) { return H5P_ATTRIBUTE_CREATE; }
static inline hid_t mtfqi_H5P_LINK_CREATE(void) { return H5P_LINK_CREATE; }

// --- Dataspace ---
static inline hid_t mtfqi_H5S_ALL(void) { return H5S_ALL; }
static inline hsize_t mtfqi_H5S_UNLIMITED(void) { return H5S_UNLIMITED; }

// --- Errors: the default stack id (H5E_DEFAULT is 0) ---
static inline hid_t mtfqi_H5E_DEFAULT(void) { return H5E_DEFAULT; }

/// Switches off libhdf5's own error printing for the calling thread. In a thread-safe build
/// (Debian's) the automatic error handler is per thread, so every thread that calls HDF5 needs
/// this once; a thread-local flag makes repeated calls free.
static inline void mtfqi_H5_quiet_thread(void) {
  static __thread int done = 0;
  if (!done) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    done = 1;
  }
}

/// Initialises the library (H5open); safe to call many times.
static inline herr_t mtfqi_H5open(void) { return H5open(); }
#endif
