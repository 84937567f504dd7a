// The generated Unicode tables (unicode_data.cpp, made by tools/unicode/gen_unicode_tables.py from
// Python's unicodedata; Unicode 14.0.0). Only text/unicode.cpp reads them; others use unicode.h.
#pragma once

#include <cstdint>
#include <span>

namespace lpx::unicode::data {

// Code points first..last have canonical combining class ccc (non-zero; sorted, disjoint).
struct CccRange {
  char32_t first, last;
  uint8_t ccc;
};

// A mapping of one code point to kMapData[offset, offset + len). compat: the decomposition is a
// compatibility (NFKD-only) mapping.
struct MapEntry {
  char32_t cp;
  uint16_t offset;
  uint8_t len;
  uint8_t compat;
};

// first + second compose to composite under NFC (sorted by (first, second)).
struct ComposeEntry {
  char32_t first, second, composite;
};

extern const std::span<const CccRange> kCccRanges;  // non-zero canonical combining classes
extern const std::span<const char32_t> kMapData;    // the targets of every MapEntry table
// One-level decompositions (unicodedata.decomposition, tag stripped, compat set when tagged).
// Hangul syllables are algorithmic and not listed.
extern const std::span<const MapEntry> kDecomp;
// Canonical 2-code-point decompositions that NFC recomposes (primary composites).
extern const std::span<const ComposeEntry> kCompose;
// Full case mappings where they differ from the code point, sorted by cp: chr(c).lower(),
// .upper(), .title() and .casefold() (no context rules such as final sigma).
extern const std::span<const MapEntry> kLower;
extern const std::span<const MapEntry> kUpper;
extern const std::span<const MapEntry> kTitle;
extern const std::span<const MapEntry> kFold;

// Python str character properties (bits of unicode::CharProp), as a two-stage table:
// kPropValues[kPropStage2[(kPropStage1[cp >> kPropShift] << kPropShift) | (cp & mask)]].
constexpr int kPropShift = 7;
extern const std::span<const uint16_t> kPropValues;
extern const std::span<const uint16_t> kPropStage1;
extern const std::span<const uint8_t> kPropStage2;

}  // namespace lpx::unicode::data
