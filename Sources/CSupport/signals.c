// Signal hygiene for mtfqi: temporary outputs registered here are unlinked by an
// async-signal-safe handler (only unlink, write, sigaction, raise and _exit run in it; the
// paths are rendered to C strings when they are registered, never in the handler).
#define _GNU_SOURCE
#include "CSupport.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MTFQI_CLEANUP_SLOTS 256

static char *volatile cleanup_slots[MTFQI_CLEANUP_SLOTS];
static __thread const char *crash_context = NULL;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;

int mtfqi_cleanup_register(const char *path) {
  char *copy = strdup(path);
  if (copy == NULL) return -1;
  for (int i = 0; i < MTFQI_CLEANUP_SLOTS; i++) {
    char *expected = NULL;
    if (__atomic_compare_exchange_n(&cleanup_slots[i], &expected, copy, 0, __ATOMIC_SEQ_CST,
                                    __ATOMIC_SEQ_CST))
      return i;
  }
  free(copy);
  return -1;
}

void mtfqi_cleanup_unregister(int slot) {
  if (slot < 0 || slot >= MTFQI_CLEANUP_SLOTS) return;
  char *old = __atomic_exchange_n(&cleanup_slots[slot], NULL, __ATOMIC_SEQ_CST);
  free(old);
}

const char *mtfqi_crash_context_push(const char *line) {
  const char *previous = crash_context;
  crash_context = strdup(line);
  return previous;
}

void mtfqi_crash_context_pop(const char *previous) {
  const char *current = crash_context;
  crash_context = previous;
  free((void *)current);
}

static void remove_registered(void) {
  for (int i = 0; i < MTFQI_CLEANUP_SLOTS; i++) {
    char *path = __atomic_load_n(&cleanup_slots[i], __ATOMIC_SEQ_CST);
    if (path != NULL) unlink(path);
  }
}

static void write_all(const char *text) {
  size_t length = strlen(text);
  while (length > 0) {
    ssize_t n = write(STDERR_FILENO, text, length);
    if (n <= 0) return;
    text += n;
    length -= (size_t)n;
  }
}

static void reraise_default(int sig) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  sigaction(sig, &action, NULL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  pthread_sigmask(SIG_UNBLOCK, &set, NULL);
  raise(sig);
  _exit(128 + sig);
}

static void on_termination(int sig) {
  remove_registered();
  reraise_default(sig);
}

static void on_fatal(int sig) {
  remove_registered();
  const char *context = crash_context;
  if (context != NULL) {
    write_all(context);
    _exit(1);
  }
  const char *name = sig == SIGSEGV   ? "SIGSEGV"
                     : sig == SIGBUS  ? "SIGBUS"
                     : sig == SIGILL  ? "SIGILL"
                     : sig == SIGABRT ? "SIGABRT"
                     : sig == SIGFPE  ? "SIGFPE"
                                      : "a fatal signal";
  write_all("Error: internal error: the process stopped on ");
  write_all(name);
  write_all(" (no output was written; please report it with the input that caused it)\n");
  reraise_default(sig);
}

static void install(void) {
  // An alternate stack, so that a stack overflow still reaches the handler.
  static char alternate[1 << 16];
  stack_t stack;
  memset(&stack, 0, sizeof stack);
  stack.ss_sp = alternate;
  stack.ss_size = sizeof alternate;
  sigaltstack(&stack, NULL);

  struct sigaction action;
  memset(&action, 0, sizeof action);
  sigfillset(&action.sa_mask);
  action.sa_handler = on_termination;
  const int termination[] = {SIGTERM, SIGINT, SIGHUP};
  for (unsigned i = 0; i < sizeof termination / sizeof termination[0]; i++) {
    struct sigaction old;
    // Keep an inherited "ignore" (nohup, background jobs): the user asked not to be stopped.
    if (sigaction(termination[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue;
    sigaction(termination[i], &action, NULL);
  }
  action.sa_handler = on_fatal;
  action.sa_flags = SA_ONSTACK;
  const int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGABRT, SIGFPE};
  for (unsigned i = 0; i < sizeof fatal / sizeof fatal[0]; i++) sigaction(fatal[i], &action, NULL);
}

void mtfqi_signals_install(void) { pthread_once(&install_once, install); }

// At process start, on the main thread before any other thread exists: the handlers are
// installed, and the signals they handle are unblocked (a parent may have left them blocked,
// e.g. Foundation's Process; then SIGTERM would stay pending for ever). Threads created later
// inherit this mask.
__attribute__((constructor)) static void install_at_start(void) {
  mtfqi_signals_install();
  sigset_t set;
  sigemptyset(&set);
  const int handled[] = {SIGTERM, SIGINT, SIGHUP, SIGSEGV, SIGBUS, SIGILL, SIGABRT, SIGFPE};
  for (unsigned i = 0; i < sizeof handled / sizeof handled[0]; i++) sigaddset(&set, handled[i]);
  pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}
