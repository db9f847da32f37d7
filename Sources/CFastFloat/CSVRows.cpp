// The one-pass parser of common CSV lines (mtfqi_csv_common_rows in CFastFloat.h): each field
// is parsed where it starts and must end exactly at the separator its place calls for, so no
// separate pass looks for the commas. Anything out of the ordinary stops it; the Swift field
// parser (Ingest/TextReader.swift) then decides that line and words any error.
#include "CFastFloat.h"
#include "ShortDecimal.h"
#include <cmath>

namespace {

// Whether a field ending at p is followed by what ends it: a comma (not the last field), or
// LF, CRLF, the end of the text, or a CR at the very end (the last field). Moves p past it.
inline bool field_end(const char *&p, const char *end, bool last) {
  if (!last) {
    if (p < end && *p == ',') {
      ++p;
      return true;
    }
    return false;
  }
  if (p == end) return true;
  if (*p == '\n') {
    ++p;
    return true;
  }
  if (*p == '\r' && (p + 1 == end || p[1] == '\n')) {
    p += (p + 1 == end) ? 1 : 2;
    return true;
  }
  return false;
}

// An optionally signed integer of 1 to 18 digits (it cannot overflow) starting at p.
inline bool integer(const char *&p, const char *end, long long *value) {
  const bool negative = p < end && *p == '-';
  if (p < end && (*p == '-' || *p == '+')) ++p;
  const char *digits = p;
  long long result = 0;
  while (p < end && mtfqi::is_digit(*p)) {
    result = result * 10 + (*p - '0');
    ++p;
    if (p - digits > 18) return false;
  }
  if (p == digits) return false;
  *value = negative ? -result : result;
  return true;
}

// Parses one line into row `row`; on success moves p past its end.
inline bool line(const char *&p, const char *end, const mtfqi_csv_field *fields, size_t field_count,
                 const char *task, size_t task_length, size_t row) {
  const char *q = p;
  for (size_t index = 0; index < field_count; ++index) {
    const mtfqi_csv_field &field = fields[index];
    const size_t slot = row * field.stride + field.offset;
    switch (field.kind) {
      case MTFQI_CSV_INTEGER: {
        long long value;
        if (!integer(q, end, &value) || value < field.low || value > field.high) return false;
        static_cast<int64_t *>(field.column)[slot] = value;
        break;
      }
      case MTFQI_CSV_NUMBER:
      case MTFQI_CSV_PROBABILITY: {
        double value;
        const size_t consumed = mtfqi::parse_double(q, end, &value);
        if (consumed == 0 || !std::isfinite(value)) return false;
        if (field.kind == MTFQI_CSV_PROBABILITY && !(value >= 0 && value <= 1)) return false;
        q += consumed;
        static_cast<double *>(field.column)[slot] = value;
        break;
      }
      case MTFQI_CSV_FLAG: {
        if (q >= end || static_cast<unsigned char>(*q - '0') > 1) return false;
        static_cast<uint8_t *>(field.column)[slot] = static_cast<uint8_t>(*q - '0');
        ++q;
        break;
      }
      case MTFQI_CSV_TASK: {
        if (task_length == 0 || static_cast<size_t>(end - q) < task_length || std::memcmp(q, task, task_length) != 0)
          return false;
        q += task_length;
        break;
      }
      default:
        return false;
    }
    if (!field_end(q, end, index + 1 == field_count)) return false;
  }
  p = q;
  return true;
}

}  // namespace

extern "C" size_t mtfqi_csv_common_rows(const char *text, size_t count, size_t *position,
                                        const mtfqi_csv_field *fields, size_t field_count, const char *task,
                                        size_t task_length, size_t first_row, size_t row_limit) {
  const char *end = text + count;
  const char *p = text + *position;
  size_t rows = 0;
  if (field_count == 0) return 0;
  while (rows < row_limit && p < end && line(p, end, fields, field_count, task, task_length, first_row + rows)) {
    ++rows;
  }
  *position = static_cast<size_t>(p - text);
  return rows;
}
