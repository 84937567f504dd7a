// UTF-8 validation, repair and streaming boundaries (see utf8.h).
#include "core/utf8.h"

namespace lpx::utf8 {
namespace {

// The length of a sequence led by b under the table of well-formed sequences (1 for ASCII), or 0
// if b can lead none (continuation bytes, 0xC0, 0xC1, 0xF5..0xFF).
size_t strict_lead_length(unsigned char b) {
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return 2;
  if (b >= 0xE0 && b <= 0xEF) return 3;
  if (b >= 0xF0 && b <= 0xF4) return 4;
  return 0;
}

}  // namespace

size_t maximal_subpart(std::string_view s, size_t pos) {
  const auto b0 = static_cast<unsigned char>(s[pos]);
  const size_t len = strict_lead_length(b0);
  if (len < 2) return 1;
  const size_t need = len - 1;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b0 == 0xE0) lo = 0xA0;
  if (b0 == 0xED) hi = 0x9F;
  if (b0 == 0xF0) lo = 0x90;
  if (b0 == 0xF4) hi = 0x8F;
  size_t k = 1;
  while (k <= need && pos + k < s.size()) {
    const auto b = static_cast<unsigned char>(s[pos + k]);
    const unsigned char l = (k == 1) ? lo : 0x80;
    const unsigned char h = (k == 1) ? hi : 0xBF;
    if (b < l || b > h) break;
    ++k;
  }
  return k;
}

bool valid(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const Decoded d = decode(s, i);
    if (!d.ok()) return false;
    i += d.len;
  }
  return true;
}

std::string repair(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      out.push_back(s[i]);
      ++i;
      continue;
    }
    const Decoded d = decode(s, i);
    if (d.ok()) {
      out.append(s.substr(i, d.len));
      i += d.len;
    } else {
      encode(out, kReplacementChar);
      i += maximal_subpart(s, i);
    }
  }
  return out;
}

size_t complete_prefix(std::string_view s, TailCheck check) {
  const size_t n = s.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const size_t p = n - back;
    const auto b = static_cast<unsigned char>(s[p]);
    if (is_continuation(b)) continue;  // keep looking for the lead byte
    if (check == TailCheck::kLeadByte) return lead_length(b) > back ? p : n;
    // A lead byte: unfinished if it needs more bytes than remain and what is there is valid.
    if (strict_lead_length(b) > back && maximal_subpart(s, p) == back) return p;
    return n;
  }
  return n;
}

size_t count_lead_bytes(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += !is_continuation(static_cast<unsigned char>(c));
  return n;
}

}  // namespace lpx::utf8
