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

/// OpenBLAS's pthread build exports blas_thread_shutdown_ (its fork handler uses it): it
/// joins the worker threads, which OpenBLAS starts again by itself at the next call that
/// wants more than one thread. Declared weak, so BLAS builds without it still link.
extern int blas_thread_shutdown_(void) __attribute__((weak));

/// Stops OpenBLAS's idle worker threads, if this OpenBLAS has them. Workers created at
/// library load spin (sched_yield) for ~0.1 s before they sleep: a process that runs its
/// BLAS on one thread would otherwise lose part of a core to them. Call it only when no BLAS
/// call is running on another thread.
static inline void mtfqi_blas_stop_idle_threads(void) {
  if (blas_thread_shutdown_) blas_thread_shutdown_();
}
#endif
