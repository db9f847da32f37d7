#ifndef MTFQI_CFASTFLOAT_H
#define MTFQI_CFASTFLOAT_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif

/// Parses a decimal number (JSON/CSV style: optional sign, digits, fraction, exponent; also
/// "inf", "nan") from [first, last) with correct rounding (fast_float::from_chars).
/// Returns the number of bytes consumed, 0 when no number starts at `first`.
size_t mtfqi_parse_double(const char *first, const char *last, double *value);

/// Same for binary32.
size_t mtfqi_parse_float(const char *first, const char *last, float *value);

#ifdef __cplusplus
}
#endif
#endif
