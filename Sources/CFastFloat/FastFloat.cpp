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

extern "C" size_t mtfqi_json_number_length(const char *first, const char *last) {
  const char *p = first;
  auto digit = [&](const char *q) { return q < last && *q >= '0' && *q <= '9'; };
  if (p < last && *p == '-') ++p;
  if (!digit(p)) return 0;
  if (*p == '0') {
    ++p;
  } else {
    while (digit(p)) ++p;
  }
  if (p < last && *p == '.') {
    ++p;
    if (!digit(p)) return 0;
    while (digit(p)) ++p;
  }
  if (p < last && (*p == 'e' || *p == 'E')) {
    ++p;
    if (p < last && (*p == '+' || *p == '-')) ++p;
    if (!digit(p)) return 0;
    while (digit(p)) ++p;
  }
  return (size_t)(p - first);
}

extern "C" size_t mtfqi_parse_float(const char *first, const char *last, float *value) {
  const char *p = first;
  if (p < last && *p == '+') ++p;
  auto result = fast_float::from_chars(p, last, *value);
  if (result.ec != std::errc()) return 0;
  return (size_t)(result.ptr - first);
}
