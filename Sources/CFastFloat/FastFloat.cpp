#include "CFastFloat.h"
#include "ShortDecimal.h"

extern "C" size_t mtfqi_parse_double_reference(const char *first, const char *last, double *value) {
  // from_chars rejects a leading '+'; accept it as CSV writers sometimes emit it.
  const char *p = first;
  if (p < last && *p == '+') ++p;
  auto result = fast_float::from_chars(p, last, *value);
  if (result.ec != std::errc()) return 0;
  return (size_t)(result.ptr - first);
}

extern "C" size_t mtfqi_parse_double(const char *first, const char *last, double *value) {
  return mtfqi::parse_double(first, last, value);
}

extern "C" size_t mtfqi_parse_float(const char *first, const char *last, float *value) {
  const char *p = first;
  if (p < last && *p == '+') ++p;
  auto result = fast_float::from_chars(p, last, *value);
  if (result.ec != std::errc()) return 0;
  return (size_t)(result.ptr - first);
}
