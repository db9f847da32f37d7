#ifndef MTFQI_CFASTFLOAT_H
#define MTFQI_CFASTFLOAT_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif

/// Parses a decimal number (JSON/CSV style: optional sign, digits, fraction, exponent; also
/// "inf", "nan") from [first, last) with correct rounding (fast_float::from_chars).
/// Returns the number of bytes consumed, 0 when no number starts at `first`.
/// Short decimals (at most 19 digits, mantissa <= 2^53, exponent within 10^+-22) take Clinger's
/// exact fast path without fast_float; the result is bit for bit what fast_float returns.
size_t mtfqi_parse_double(const char *first, const char *last, double *value);

/// fast_float alone (the reference that tests compare the fast path with).
size_t mtfqi_parse_double_reference(const char *first, const char *last, double *value);

/// Same for binary32.
size_t mtfqi_parse_float(const char *first, const char *last, float *value);

#ifdef __cplusplus
}
#endif
#endif
