#ifndef MTFQI_CSUPPORT_H
#define MTFQI_CSUPPORT_H

#ifdef __cplusplus
extern "C" {
#endif

/// Installs (once per process) the handlers that remove registered temporary outputs on
/// SIGTERM, SIGINT, SIGHUP and on fatal signals (SIGSEGV, SIGBUS, SIGILL, SIGABRT, SIGFPE).
/// Termination signals are then re-raised with the default action (the exit status says which
/// signal); a fatal signal while a crash context is set (an HDF5 read) prints that context's
/// line and exits with status 1; other fatal signals print one line and are re-raised.
void mtfqi_signals_install(void);

/// Registers a path to unlink if the process is ended by a signal; returns a slot (>= 0) for
/// `mtfqi_cleanup_unregister`, or -1 when every slot is taken (the path is then not covered).
int mtfqi_cleanup_register(const char *path);

/// Forgets a slot returned by `mtfqi_cleanup_register` (a negative slot is ignored).
void mtfqi_cleanup_unregister(int slot);

/// Sets the calling thread's crash context: the line printed (as is) when a fatal signal
/// arrives on this thread. Returns the previous context, to give back to `mtfqi_crash_context_pop`.
const char *mtfqi_crash_context_push(const char *line);

/// Restores the previous context (and frees the current one).
void mtfqi_crash_context_pop(const char *previous);

/// Keeps freed heap memory in the process (glibc `mallopt`): raises the trim threshold to 1 GiB
/// and the mmap threshold to 64 MiB, so that buffers freed and allocated again block after block
/// are reused instead of returned to the kernel and faulted back in. Returns 1 when both
/// settings were taken, 0 otherwise (another C library: nothing changes but speed).
int mtfqi_keep_freed_memory(void);

#ifdef __cplusplus
}
#endif

#endif
