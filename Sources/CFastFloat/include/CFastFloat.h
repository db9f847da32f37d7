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

/// The length of the JSON number (RFC 8259: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?)
/// that starts at `first`, 0 when none does. "01", "+1", "1.", ".5", "-.5", "1e" are not JSON
/// numbers; the caller checks what follows the token.
size_t mtfqi_json_number_length(const char *first, const char *last);


/// What a field of a common line holds (mtfqi_csv_common_rows, mtfqi_jsonl_common_rows).
enum {
  /// The field must not appear (JSON Lines only).
  MTFQI_FIELD_ABSENT = -1,
  /// An integer within [low, high], stored as int64_t. CSV: optional sign and 1 to 18 digits;
  /// JSON: optional '-' and digits, within int64_t.
  MTFQI_FIELD_INTEGER = 0,
  /// A finite number (mtfqi_parse_double), stored as double.
  MTFQI_FIELD_NUMBER = 1,
  /// A finite number within [0, 1], stored as double.
  MTFQI_FIELD_PROBABILITY = 2,
  /// A flag, stored as uint8_t. CSV: exactly "0" or "1"; JSON: true, false, 0 or 1.
  MTFQI_FIELD_FLAG = 3,
  /// The task: exactly the bytes of the task passed in (JSON: in quotes); nothing is stored.
  MTFQI_FIELD_TASK = 4,
  /// JSON only: an array of exactly `stride` finite numbers, stored from offset 0.
  MTFQI_FIELD_VECTOR = 5,
  /// JSON only: as MTFQI_FIELD_VECTOR, or a bare finite number when `stride` is 1.
  MTFQI_FIELD_VECTOR_OR_NUMBER = 6,
};

/// One field of a common line. The value of row r is stored at ((T *)column)[r * stride +
/// offset] (a vector's k-th number at r * stride + k), T as its kind says.
typedef struct {
  int kind;
  void *column;
  size_t stride;
  size_t offset;
  long long low;
  long long high;
} mtfqi_text_field;

/// Parses common CSV lines one after another from text[*position], a line being `field_count`
/// fields as `fields` describe, separated by commas, ended by LF, CRLF, or the end of the text
/// (a CR alone at the very end is taken as a line end too). The rows go to rows first_row,
/// first_row + 1, ...; at most row_limit of them. Stops before the first line that is not
/// common (any field not exactly as its kind says, a quote, a blank line, another task) and
/// returns the number of rows parsed, *position then being the start of that line (or the end
/// of the text). Values of a line that is refused may have been written to its row.
size_t mtfqi_csv_common_rows(const char *text, size_t count, size_t *position, const mtfqi_text_field *fields,
                             size_t field_count, const char *task, size_t task_length, size_t first_row,
                             size_t row_limit);

/// The JSON Lines keys, in the order of the `fields` array of mtfqi_jsonl_common_rows.
enum {
  MTFQI_KEY_TASK = 0,
  MTFQI_KEY_EPISODE,
  MTFQI_KEY_STEP,
  MTFQI_KEY_OBS,
  MTFQI_KEY_ACTION,
  MTFQI_KEY_REWARD,
  MTFQI_KEY_NEXT_OBS,
  MTFQI_KEY_TERMINATED,
  MTFQI_KEY_TRUNCATED,
  MTFQI_KEY_BEHAVIOR_PROB,
  MTFQI_KEY_COUNT,
};

/// As mtfqi_csv_common_rows, for JSON Lines: a common line is one JSON object whose keys are
/// spelled plainly, each at most once and in any order, with spaces or tabs between tokens;
/// fields[MTFQI_KEY_*] says what each key holds. Every key whose kind is not ABSENT must
/// appear; the task may be left out only when `task_optional` is non-zero. After
/// the object, spaces, tabs and CRs, then LF or the end of the text.
size_t mtfqi_jsonl_common_rows(const char *text, size_t count, size_t *position, const mtfqi_text_field *fields,
                               const char *task, size_t task_length, int task_optional, size_t first_row,
                               size_t row_limit);

#ifdef __cplusplus
}
#endif
#endif
