#ifndef MTFQI_CZLIB_SHIM_H
#define MTFQI_CZLIB_SHIM_H
#include <zlib.h>

/// inflateInit2 is a macro over inflateInit2_ (it passes the library version and the stream size).
static inline int mtfqi_inflate_init2(z_streamp strm, int windowBits) {
  return inflateInit2(strm, windowBits);
}
/// deflateInit2 is a macro over deflateInit2_.
static inline int mtfqi_deflate_init2(z_streamp strm, int level, int windowBits) {
  return deflateInit2(strm, level, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY);
}
#endif
