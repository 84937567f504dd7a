// Unicode helpers for the tokenizer and the Jinja str methods (whitespace, GPT-2 byte map,
// normalization, case mappings, Python character properties) over the generated tables in
// unicode_data.cpp.
#include "text/unicode.h"

#include <algorithm>
#include <array>
#include <vector>

#include "core/utf8.h"
#include "text/unicode_data.h"

namespace lpx::unicode {
namespace {

using data::CccRange;
using data::ComposeEntry;
using data::kCccRanges;
using data::kCompose;
using data::kDecomp;
using data::kLower;
using data::kMapData;
using data::kPropShift;
using data::MapEntry;

constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

uint8_t ccc_of(char32_t cp) {
  if (cp < 0x300) return 0;
  const auto end = kCccRanges.end();
  auto it = std::upper_bound(kCccRanges.begin(), end, cp, [](char32_t v, const CccRange& r) { return v < r.first; });
  if (it == kCccRanges.begin()) return 0;
  --it;
  return (cp <= it->last) ? it->ccc : 0;
}

const MapEntry* find_entry(std::span<const MapEntry> table, char32_t cp) {
  const auto it =
      std::lower_bound(table.begin(), table.end(), cp, [](const MapEntry& e, char32_t v) { return e.cp < v; });
  return (it != table.end() && it->cp == cp) ? &*it : nullptr;
}

void decompose_cp(char32_t cp, bool compat, std::vector<char32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const char32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out.push_back(kTBase + s % kTCount);
    return;
  }
  if (cp >= 0xA0) {
    const MapEntry* e = find_entry(kDecomp, cp);
    if (e != nullptr && (compat || e->compat == 0)) {
      for (int i = 0; i < e->len; ++i) decompose_cp(kMapData[e->offset + i], compat, out);
      return;
    }
  }
  out.push_back(cp);
}

char32_t compose_pair(char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount) {
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  }
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount) {
    return a + (b - kTBase);
  }
  const auto end = kCompose.end();
  const auto it = std::lower_bound(kCompose.begin(), end, std::make_pair(a, b),
                                   [](const ComposeEntry& e, const std::pair<char32_t, char32_t>& v) {
                                     return e.first < v.first || (e.first == v.first && e.second < v.second);
                                   });
  if (it != end && it->first == a && it->second == b) return it->composite;
  return 0;
}

std::vector<char32_t> to_code_points(std::string_view s) {
  std::vector<char32_t> cps;
  cps.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const utf8::Decoded d = utf8::decode(s, i);
    cps.push_back(d.ok() ? d.cp : utf8::kReplacementChar);
    i += d.ok() ? d.len : 1;
  }
  return cps;
}

std::string from_code_points(const std::vector<char32_t>& cps) {
  std::string out;
  out.reserve(cps.size());
  for (char32_t cp : cps) utf8::encode(out, cp);
  return out;
}

std::vector<char32_t> decompose_all(std::string_view s, bool compat) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  for (char32_t cp : to_code_points(s)) decompose_cp(cp, compat, out);
  // Canonical ordering: stable-sort each run of non-starters by combining class.
  size_t i = 0;
  while (i < out.size()) {
    if (ccc_of(out[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < out.size() && ccc_of(out[j]) != 0) ++j;
    if (j - i > 1) {
      std::stable_sort(out.begin() + i, out.begin() + j, [](char32_t a, char32_t b) { return ccc_of(a) < ccc_of(b); });
    }
    i = j;
  }
  return out;
}

std::vector<char32_t> compose_all(const std::vector<char32_t>& d) {
  std::vector<char32_t> out;
  out.reserve(d.size());
  long starter = -1;
  uint8_t prev_cc = 0;
  for (char32_t c : d) {
    const uint8_t cc = ccc_of(c);
    if (starter >= 0) {
      const bool adjacent = static_cast<long>(out.size()) - 1 == starter;
      if (adjacent || (prev_cc != 0 && prev_cc < cc)) {
        const char32_t comp = compose_pair(out[starter], c);
        if (comp != 0) {
          out[starter] = comp;
          continue;
        }
      }
    }
    if (cc == 0) starter = static_cast<long>(out.size());
    out.push_back(c);
    prev_cc = cc;
  }
  return out;
}

bool all_below(std::string_view s, char32_t limit) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      ++i;
      continue;
    }
    const utf8::Decoded d = utf8::decode(s, i);
    if (!d.ok() || d.cp >= limit) return false;
    i += d.len;
  }
  return true;
}

struct ByteMap {
  std::array<std::string, 256> to_char;
  std::array<int, 512> to_byte{};  // all alphabet code points are < 512
  ByteMap() {
    to_byte.fill(-1);
    int extra = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      const char32_t cp = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + extra++);
      utf8::encode(to_char[b], cp);
      to_byte[cp] = b;
    }
  }
};

const ByteMap& byte_map() {
  static const ByteMap kMap;
  return kMap;
}

}  // namespace

bool is_whitespace(char32_t cp) {
  if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
  if (cp < 0x85) return false;
  switch (cp) {
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000: return true;
    default: return cp >= 0x2000 && cp <= 0x200A;
  }
}

const std::string& byte_to_char(uint8_t b) { return byte_map().to_char[b]; }

int char_to_byte(char32_t cp) { return cp < 512 ? byte_map().to_byte[cp] : -1; }

std::string nfd(std::string_view s) {
  if (all_below(s, 0xC0)) return std::string(s);
  return from_code_points(decompose_all(s, false));
}

std::string nfkd(std::string_view s) {
  if (all_below(s, 0xA0)) return std::string(s);
  return from_code_points(decompose_all(s, true));
}

std::string nfc(std::string_view s) {
  if (all_below(s, 0x300)) return std::string(s);
  return from_code_points(compose_all(decompose_all(s, false)));
}

std::string nfkc(std::string_view s) {
  if (all_below(s, 0xA0)) return std::string(s);
  return from_code_points(compose_all(decompose_all(s, true)));
}

std::string lowercase(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      out.push_back((b >= 'A' && b <= 'Z') ? static_cast<char>(b + 32) : static_cast<char>(b));
      ++i;
      continue;
    }
    const auto [cp, n] = utf8::decode(s, i);
    if (n == 0) {
      utf8::encode(out, utf8::kReplacementChar);
      i += 1;
      continue;
    }
    const MapEntry* e = find_entry(kLower, cp);
    if (e == nullptr) {
      out.append(s.substr(i, n));
    } else {
      for (int k = 0; k < e->len; ++k) utf8::encode(out, kMapData[e->offset + k]);
    }
    i += n;
  }
  return out;
}

uint16_t char_props(char32_t cp) {
  if (cp > 0x10FFFF) return 0;
  constexpr char32_t kMask = (char32_t{1} << kPropShift) - 1;
  const size_t block = data::kPropStage1[cp >> kPropShift];
  return data::kPropValues[data::kPropStage2[(block << kPropShift) | (cp & kMask)]];
}

std::u32string_view case_mapping(CaseMap map, char32_t cp) {
  std::span<const MapEntry> table;
  switch (map) {
    case CaseMap::kLower: table = kLower; break;
    case CaseMap::kUpper: table = data::kUpper; break;
    case CaseMap::kTitle: table = data::kTitle; break;
    case CaseMap::kFold: table = data::kFold; break;
  }
  const MapEntry* e = find_entry(table, cp);
  if (e == nullptr) return {};
  return std::u32string_view(kMapData.data() + e->offset, e->len);
}

}  // namespace lpx::unicode
