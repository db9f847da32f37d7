#ifndef MTFQI_CBLAS_SHIM_H
#define MTFQI_CBLAS_SHIM_H
// OpenBLAS's CBLAS interface and LAPACKE (row- and column-major C wrappers of LAPACK).
// lapack_int is a macro (int32 here): Swift sees Int32 sizes in every LAPACKE call.
#include <cblas.h>
#include <lapacke.h>

/// Sets the number of OpenBLAS threads (openblas_set_num_threads); use 1 inside a thread
/// that is already parallel.
static inline void mtfqi_blas_set_threads(int n) { openblas_set_num_threads(n); }
static inline int mtfqi_blas_get_threads(void) { return openblas_get_num_threads(); }
#endif
