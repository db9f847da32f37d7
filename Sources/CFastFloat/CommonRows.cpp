// The one-pass parsers of common CSV and JSON Lines lines (mtfqi_csv_common_rows and
// mtfqi_jsonl_common_rows in CFastFloat.h): each value is parsed where it starts and must be
// followed exactly by what the format calls for, so no separate pass looks for separators.
// Anything out of the ordinary stops them; the Swift parsers (Ingest/TextReader.swift,
// Ingest/JSONLParser.swift) then decide that line and word any error. They may decline any
// line, but a line they accept must give exactly the row the Swift parsers make of it.
#include "CFastFloat.h"
#include "ShortDecimal.h"
#include <cmath>

namespace {

// Whether the `length` bytes at p equal those at text, for the short keys and task names of
// the lines: two overlapping word loads instead of a memcmp call (whose call cost
// showed in profiles, one per key). Both ranges must be readable for `length` bytes.
inline bool same_bytes(const char *p, const char *text, size_t length) {
  if (length >= 8 && length <= 16) {
    return mtfqi::load_eight(p) == mtfqi::load_eight(text) &&
           mtfqi::load_eight(p + length - 8) == mtfqi::load_eight(text + length - 8);
  }
  if (length >= 4 && length < 8) {
    uint32_t a, b, c, d;
    std::memcpy(&a, p, 4);
    std::memcpy(&b, text, 4);
    std::memcpy(&c, p + length - 4, 4);
    std::memcpy(&d, text + length - 4, 4);
    return a == b && c == d;
  }
  return std::memcmp(p, text, length) == 0;
}

// ---- CSV ------------------------------------------------------------------------------------

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
    if (p - digits == 18) return false;
    result = result * 10 + (*p - '0');
    ++p;
  }
  if (p == digits) return false;
  *value = negative ? -result : result;
  return true;
}

// Parses one line into row `row`; on success moves p past its end.
inline bool line(const char *&p, const char *end, const mtfqi_text_field *fields, size_t field_count,
                 const char *task, size_t task_length, size_t row) {
  const char *q = p;
  for (size_t index = 0; index < field_count; ++index) {
    const mtfqi_text_field &field = fields[index];
    const size_t slot = row * field.stride + field.offset;
    switch (field.kind) {
      case MTFQI_FIELD_INTEGER: {
        long long value;
        if (!integer(q, end, &value) || value < field.low || value > field.high) return false;
        static_cast<int64_t *>(field.column)[slot] = value;
        break;
      }
      case MTFQI_FIELD_NUMBER:
      case MTFQI_FIELD_PROBABILITY: {
        double value;
        const size_t consumed = mtfqi::parse_double(q, end, &value);
        if (consumed == 0 || !std::isfinite(value)) return false;
        if (field.kind == MTFQI_FIELD_PROBABILITY && !(value >= 0 && value <= 1)) return false;
        q += consumed;
        static_cast<double *>(field.column)[slot] = value;
        break;
      }
      case MTFQI_FIELD_FLAG: {
        if (q >= end || static_cast<unsigned char>(*q - '0') > 1) return false;
        static_cast<uint8_t *>(field.column)[slot] = static_cast<uint8_t>(*q - '0');
        ++q;
        break;
      }
      case MTFQI_FIELD_TASK: {
        if (task_length == 0 || static_cast<size_t>(end - q) < task_length || !same_bytes(q, task, task_length))
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

// ---- JSON Lines -----------------------------------------------------------------------------


inline void skip_blanks(const char *&p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t')) ++p;
}

// A JSON integer as the Swift cursor reads it: optional '-', digits without a leading zero
// (RFC 8259), within int64_t (accumulated negatively, so that int64 min is one).
inline bool json_integer(const char *&p, const char *end, long long *value) {
  const bool negative = p < end && *p == '-';
  p += negative;
  const char *digits = p;
  long long result = 0;
  while (p < end && mtfqi::is_digit(*p)) {
    if (__builtin_mul_overflow(result, 10LL, &result) || __builtin_sub_overflow(result, *p - '0', &result))
      return false;
    ++p;
  }
  if (p == digits || (*digits == '0' && p - digits > 1)) return false;
  if (!negative && __builtin_mul_overflow(result, -1LL, &result)) return false;
  *value = result;
  return true;
}

// A finite JSON number: the RFC 8259 grammar, then correctly rounded.
//
// The usual number is a short decimal without an exponent, which short_decimal_unbounded
// parses in one pass. What it accepts is a JSON number except for a leading zero before more
// integer digits ("01.5"), so those go the long way, which checks the grammar first and
// refuses them. Either way the token ends at the same byte: the short parse stops at the
// first byte that is neither a digit nor the one point, and gives up on an exponent.
inline bool json_number(const char *&p, const char *end, double *value) {
  if (end - p >= 32) {
    const char *integer = p + (*p == '-');
    if (!(integer[0] == '0' && mtfqi::is_digit(integer[1]))) {
      const size_t consumed = mtfqi::short_decimal_unbounded(p, end, value);
      if (consumed > 0) {
        p += consumed;
        return true;
      }
    }
  }
  const size_t length = mtfqi_json_number_length(p, end);
  if (length == 0) return false;
  const size_t consumed = mtfqi::parse_double(p, end, value);
  if (consumed != length || !std::isfinite(*value)) return false;
  p += consumed;
  return true;
}

inline bool literal(const char *&p, const char *end, const char *text, size_t length) {
  if (static_cast<size_t>(end - p) < length || std::memcmp(p, text, length) != 0) return false;
  p += length;
  return true;
}

// Whether c may continue a JSON number token (as the Swift cursor's numberToken reads it).
inline bool number_byte(char c) {
  return mtfqi::is_digit(c) || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

// The key whose name starts at p (just past its opening quote), moving p past the closing
// quote; -1 for anything else (an unknown name, an escape).
inline int json_key(const char *&p, const char *end) {
  static const char *const names[MTFQI_KEY_COUNT] = {"task",     "episode",    "step",      "obs",
                                                    "action",   "reward",     "next_obs",  "terminated",
                                                    "truncated", "behavior_prob"};
  static const size_t lengths[MTFQI_KEY_COUNT] = {4, 7, 4, 3, 6, 6, 8, 10, 9, 13};
  if (p >= end) return -1;
  int key;
  switch (*p) {
    case 'o': key = MTFQI_KEY_OBS; break;
    case 'a': key = MTFQI_KEY_ACTION; break;
    case 'r': key = MTFQI_KEY_REWARD; break;
    case 'e': key = MTFQI_KEY_EPISODE; break;
    case 's': key = MTFQI_KEY_STEP; break;
    case 'n': key = MTFQI_KEY_NEXT_OBS; break;
    case 'b': key = MTFQI_KEY_BEHAVIOR_PROB; break;
    case 't':
      if (end - p < 2) return -1;
      key = p[1] == 'a' ? MTFQI_KEY_TASK : p[1] == 'e' ? MTFQI_KEY_TERMINATED : MTFQI_KEY_TRUNCATED;
      break;
    default: return -1;
  }
  const size_t length = lengths[key];
  if (static_cast<size_t>(end - p) <= length || !same_bytes(p, names[key], length) || p[length] != '"') return -1;
  p += length + 1;
  return key;
}

// Whether text is a JSON integer as JSON writes one: -?(0|[1-9][0-9]*).
inline bool json_integer_spelling(const char *text, size_t length) {
  size_t i = 0;
  if (i < length && text[i] == '-') ++i;
  if (i == length) return false;
  if (text[i] == '0') return i + 1 == length;
  for (; i < length; ++i) {
    if (!mtfqi::is_digit(text[i])) return false;
  }
  return true;
}

// One value of `field` for row `row`.
inline bool json_value(const char *&p, const char *end, const mtfqi_text_field &field, const char *task,
                       size_t task_length, size_t row) {
  const size_t slot = row * field.stride + field.offset;
  switch (field.kind) {
    case MTFQI_FIELD_INTEGER: {
      long long value;
      if (!json_integer(p, end, &value) || value < field.low || value > field.high) return false;
      static_cast<int64_t *>(field.column)[slot] = value;
      return true;
    }
    case MTFQI_FIELD_NUMBER:
    case MTFQI_FIELD_PROBABILITY: {
      double value;
      if (!json_number(p, end, &value)) return false;
      if (field.kind == MTFQI_FIELD_PROBABILITY && !(value >= 0 && value <= 1)) return false;
      static_cast<double *>(field.column)[slot] = value;
      return true;
    }
    case MTFQI_FIELD_FLAG: {
      uint8_t value;
      if (literal(p, end, "true", 4)) {
        value = 1;
      } else if (literal(p, end, "false", 5)) {
        value = 0;
      } else if (p < end && (*p == '0' || *p == '1') && (p + 1 == end || !number_byte(p[1]))) {
        value = static_cast<uint8_t>(*p - '0');
        ++p;
      } else {
        return false;
      }
      static_cast<uint8_t *>(field.column)[slot] = value;
      return true;
    }
    case MTFQI_FIELD_TASK:
      if (task_length == 0) return false;
      if (p < end && *p != '"') {
        // An integer task id names the task by its characters as written (`"task": 7` is task
        // "7"): the same bytes as the task, which must be a JSON integer, and then no number byte.
        if (!json_integer_spelling(task, task_length) || static_cast<size_t>(end - p) < task_length ||
            std::memcmp(p, task, task_length) != 0 || (p + task_length < end && number_byte(p[task_length])))
          return false;
        p += task_length;
        return true;
      }
      if (static_cast<size_t>(end - p) < task_length + 2 || *p != '"' ||
          !same_bytes(p + 1, task, task_length) || p[task_length + 1] != '"')
        return false;
      p += task_length + 2;
      return true;
    case MTFQI_FIELD_VECTOR:
    case MTFQI_FIELD_VECTOR_OR_NUMBER: {
      double *values = static_cast<double *>(field.column) + row * field.stride;
      if (p < end && *p != '[') {
        return field.kind == MTFQI_FIELD_VECTOR_OR_NUMBER && field.stride == 1 && json_number(p, end, values);
      }
      ++p;
      for (size_t k = 0; k < field.stride; ++k) {
        skip_blanks(p, end);
        if (!json_number(p, end, values + k)) return false;
        skip_blanks(p, end);
        if (p >= end || *p != (k + 1 == field.stride ? ']' : ',')) return false;
        ++p;
      }
      return field.stride > 0;
    }
    default:
      return false;
  }
}

// One line: an object, then blanks or CRs up to LF or the end of the text.
inline bool json_line(const char *&p, const char *end, const mtfqi_text_field *fields, const char *task,
                      size_t task_length, bool task_optional, size_t row) {
  const char *q = p;
  skip_blanks(q, end);
  if (q >= end || *q != '{') return false;
  ++q;
  unsigned seen = 0;
  while (true) {
    skip_blanks(q, end);
    if (q >= end || *q != '"') return false;
    ++q;
    const int key = json_key(q, end);
    if (key < 0 || (seen & (1u << key)) != 0) return false;
    seen |= 1u << key;
    skip_blanks(q, end);
    if (q >= end || *q != ':') return false;
    ++q;
    skip_blanks(q, end);
    if (!json_value(q, end, fields[key], task, task_length, row)) return false;
    skip_blanks(q, end);
    if (q >= end) return false;
    if (*q == ',') {
      ++q;
      continue;
    }
    if (*q != '}') return false;
    ++q;
    break;
  }
  while (q < end && (*q == ' ' || *q == '\t' || *q == '\r')) ++q;
  if (q < end) {
    if (*q != '\n') return false;
    ++q;
  }
  unsigned required = task_optional ? 0 : 1u << MTFQI_KEY_TASK;
  for (int key = 0; key < MTFQI_KEY_COUNT; ++key) {
    if (fields[key].kind != MTFQI_FIELD_ABSENT && key != MTFQI_KEY_TASK) required |= 1u << key;
  }
  if ((seen & required) != required) return false;
  p = q;
  return true;
}

}  // namespace

extern "C" size_t mtfqi_csv_common_rows(const char *text, size_t count, size_t *position,
                                        const mtfqi_text_field *fields, size_t field_count, const char *task,
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

extern "C" size_t mtfqi_jsonl_common_rows(const char *text, size_t count, size_t *position,
                                          const mtfqi_text_field *fields, const char *task, size_t task_length,
                                          int task_optional, size_t first_row, size_t row_limit) {
  const char *end = text + count;
  const char *p = text + *position;
  size_t rows = 0;
  while (rows < row_limit && p < end &&
         json_line(p, end, fields, task, task_length, task_optional != 0, first_row + rows)) {
    ++rows;
  }
  *position = static_cast<size_t>(p - text);
  return rows;
}
