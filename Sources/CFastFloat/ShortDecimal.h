// The short-decimal parser shared by the number entry points (FastFloat.cpp) and the CSV
// row parser (CSVRows.cpp): Clinger's exact fast path, with fast_float behind it.
#ifndef MTFQI_SHORT_DECIMAL_H
#define MTFQI_SHORT_DECIMAL_H
#include <fast_float/fast_float.h>
#include <cstdint>
#include <cstring>

namespace mtfqi {

// Powers of ten that are exact as doubles (10^22 is the largest: 5^22 < 2^53).
const double exact_powers_of_ten[] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

inline bool is_digit(char c) { return static_cast<unsigned char>(c - '0') < 10; }

inline uint64_t load_eight(const char *p) {
  uint64_t value;
  std::memcpy(&value, p, 8);
  return value;
}

// The value of eight ASCII digits, first byte most significant, in three multiplications.
inline uint32_t eight_digits_value(uint64_t value) {
  const uint64_t mask = 0x000000FF000000FFULL;
  const uint64_t mul1 = 0x000F424000000064ULL;  // 100 + (1000000ULL << 32)
  const uint64_t mul2 = 0x0000271000000001ULL;  // 1 + (10000ULL << 32)
  value -= 0x3030303030303030ULL;
  value = (value * 10) + (value >> 8);
  value = (((value & mask) * mul1) + (((value >> 16) & mask) * mul2)) >> 32;
  return static_cast<uint32_t>(value);
}

const uint64_t powers_of_ten_u64[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};

// How many of the eight bytes, from the first, are ASCII digits (0 to 8). Each byte is xor-ed
// with '0' (a digit becomes 0..9); bit 7 of (x + 0x76) | x is then set exactly for bytes that
// are not digits. A carry out of a byte can only spoil the bytes after it, and only the first
// non-digit counts, so the count is exact.
inline unsigned leading_digits(uint64_t word) {
  const uint64_t x = word ^ 0x3030303030303030ULL;
  const uint64_t not_digit = ((x + 0x7676767676767676ULL) | x) & 0x8080808080808080ULL;
  return not_digit == 0 ? 8 : static_cast<unsigned>(__builtin_ctzll(not_digit)) / 8;
}

// The value of the first `count` (0 to 8) digits of `word`: the digits are moved to the end of
// the word behind '0' bytes, and the eight digits read at once. (Shifts are done in two halves
// so that shifting by 64, for a count of 0 or 8, is defined.)
inline uint64_t digits_value(uint64_t word, unsigned count) {
  const unsigned half = 4 * (8 - count);
  const uint64_t digits = (word << half) << half;
  const uint64_t zeros = (0x3030303030303030ULL >> (32 - half)) >> (32 - half);
  return eight_digits_value(digits | zeros);
}

// Adds the digits starting at p to `mantissa`, eight bytes at a time (at least 8 bytes must be
// readable from p, or the plain loop is used); returns the number of digits.
inline size_t add_digits(const char *&p, const char *last, uint64_t &mantissa) {
  const char *start = p;
  while (last - p >= 8) {
    const uint64_t word = load_eight(p);
    const unsigned count = leading_digits(word);
    if (count == 0) return static_cast<size_t>(p - start);
    mantissa = mantissa * powers_of_ten_u64[count] + digits_value(word, count);
    p += count;
    if (count < 8) return static_cast<size_t>(p - start);
  }
  while (p < last && is_digit(*p)) {
    mantissa = mantissa * 10 + static_cast<uint64_t>(*p - '0');
    ++p;
  }
  return static_cast<size_t>(p - start);
}

// The value from the mantissa and decimal exponent, or false when they are out of the
// fast path's range (see short_decimal).
inline bool clinger(uint64_t mantissa, int64_t exponent, bool negative, double *value) {
  if (mantissa > (uint64_t(1) << 53) || exponent < -22 || exponent > 22) return false;
  double result = static_cast<double>(mantissa);
  result = exponent < 0 ? result / exact_powers_of_ten[-exponent] : result * exact_powers_of_ten[exponent];
  // The sign by setting the bit (result >= 0), not by a branch: signs in data are random and
  // a mispredicted branch here costs more than the rest of the parse.
  uint64_t bits;
  std::memcpy(&bits, &result, 8);
  bits |= static_cast<uint64_t>(negative) << 63;
  std::memcpy(value, &bits, 8);
  return true;
}

// short_decimal for input with at least 32 readable bytes, so that words can be loaded without
// bounds checks: up to 7 integer digits and 16 fraction digits with few branches (a branch on
// a digit count mispredicts often in real data, whose numbers differ in length).
__attribute__((always_inline)) inline size_t short_decimal_unbounded(const char *first, const char *last, double *value) {
  const char *p = first;
  const bool negative = *p == '-';
  p += negative;
  uint64_t mantissa;
  unsigned integer_digits;
  if (is_digit(p[0]) && !is_digit(p[1])) {
    // One integer digit, the usual case for values of order one: no SWAR needed.
    mantissa = static_cast<uint64_t>(p[0] - '0');
    integer_digits = 1;
  } else {
    const uint64_t integer_word = load_eight(p);
    integer_digits = leading_digits(integer_word);
    if (integer_digits == 0 || integer_digits == 8) return 0;
    mantissa = digits_value(integer_word, integer_digits);
  }
  p += integer_digits;
  int64_t exponent = 0;
  if (*p == '.') {
    ++p;
    const uint64_t word1 = load_eight(p);
    const uint64_t word2 = load_eight(p + 8);
    const unsigned count1 = leading_digits(word1);
    const unsigned count2 = count1 == 8 ? leading_digits(word2) : 0;
    if (count1 == 0 || count2 == 8 || integer_digits + count1 + count2 > 19) return 0;
    mantissa = mantissa * powers_of_ten_u64[count1] + digits_value(word1, count1);
    // Nine or eight fraction digits (count2 is 1 or 0) are the usual case: one byte, no SWAR.
    const uint64_t value2 = count2 <= 1 ? (count2 == 1 ? static_cast<uint64_t>(p[8] - '0') : 0)
                                        : digits_value(word2, count2);
    mantissa = mantissa * powers_of_ten_u64[count2] + value2;
    p += count1 + count2;
    exponent = -static_cast<int64_t>(count1 + count2);
  }
  if (p < last && (*p == 'e' || *p == 'E')) return 0;  // with an exponent: the general loop
  if (!clinger(mantissa, exponent, negative, value)) return 0;
  return static_cast<size_t>(p - first);
}

// Clinger's fast path for the common short decimal: [-]digits[.digits][(e|E)[+|-]digits] with
// at most 19 digits, a digit on both sides of the point, a mantissa w <= 2^53 and a decimal
// exponent q in [-22, 22]. Then w and 10^|q| are exact doubles and one IEEE multiplication or
// division gives the correctly rounded result, the very value fast_float returns (it takes the
// same path for these inputs). Returns the bytes consumed, or 0 when the input is anything
// else; the caller then asks fast_float, which decides (and rejects) the unusual cases.
inline size_t short_decimal(const char *first, const char *last, double *value) {
  if (last - first >= 32) return short_decimal_unbounded(first, last, value);
  const char *p = first;
  bool negative = false;
  if (p < last && *p == '-') {
    negative = true;
    ++p;
  }
  uint64_t mantissa = 0;  // may wrap for more than 19 digits; such input is refused below
  const size_t integer_digits = add_digits(p, last, mantissa);
  if (integer_digits == 0) return 0;
  size_t fraction_digits = 0;
  if (p < last && *p == '.') {
    ++p;
    fraction_digits = add_digits(p, last, mantissa);
    if (fraction_digits == 0) return 0;
  }
  if (integer_digits + fraction_digits > 19) return 0;
  int64_t exponent = -static_cast<int64_t>(fraction_digits);
  if (p < last && (*p == 'e' || *p == 'E')) {
    const char *q = p + 1;
    bool negative_exponent = false;
    if (q < last && (*q == '+' || *q == '-')) {
      negative_exponent = *q == '-';
      ++q;
    }
    if (q >= last || !is_digit(*q)) return 0;
    int64_t written = 0;
    while (q < last && is_digit(*q)) {
      if (written < 100000) written = written * 10 + (*q - '0');
      ++q;
    }
    exponent += negative_exponent ? -written : written;
    p = q;
  }
  if (!clinger(mantissa, exponent, negative, value)) return 0;
  return static_cast<size_t>(p - first);
}


// Any decimal fast_float accepts (and a leading '+'), correctly rounded: the fast path first.
inline size_t parse_double(const char *first, const char *last, double *value) {
  size_t consumed = short_decimal(first, last, value);
  if (consumed > 0) return consumed;
  const char *p = first;
  if (p < last && *p == '+') ++p;
  auto result = fast_float::from_chars(p, last, *value);
  if (result.ec != std::errc()) return 0;
  return static_cast<size_t>(result.ptr - first);
}

}  // namespace mtfqi
#endif
