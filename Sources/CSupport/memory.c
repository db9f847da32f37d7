#include "CSupport.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

int mtfqi_keep_freed_memory(void) {
#if defined(__GLIBC__)
  // 1 GiB before the heap top is given back; blocks up to 64 MiB from the heap, not mmap.
  int trimmed = mallopt(M_TRIM_THRESHOLD, 1 << 30);
  int mapped = mallopt(M_MMAP_THRESHOLD, 64 << 20);
  return trimmed == 1 && mapped == 1;
#else
  return 0;
#endif
}
