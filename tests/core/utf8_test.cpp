// Tests for core/utf8.h: decoding of well-formed and ill-formed sequences, encoding, validation,
// repair and the streaming boundary (complete_prefix) in both tail checks.
#include "core/utf8.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace lpx {
namespace {

utf8::Decoded dec(std::string_view s) { return utf8::decode(s, 0); }

TEST(Utf8, DecodesOneToFourBytes) {
  EXPECT_EQ(dec("A").cp, U'A');
  EXPECT_EQ(dec("A").len, 1u);
  EXPECT_EQ(dec(std::string_view("\0", 1)).len, 1u);  // NUL is a character
  EXPECT_EQ(dec("\x7F").cp, 0x7Fu);
  EXPECT_EQ(dec("\xC2\x80").cp, 0x80u);
  EXPECT_EQ(dec("\xC3\xA9").cp, 0xE9u);  // é
  EXPECT_EQ(dec("\xC3\xA9").len, 2u);
  EXPECT_EQ(dec("\xDF\xBF").cp, 0x7FFu);
  EXPECT_EQ(dec("\xE0\xA0\x80").cp, 0x800u);
  EXPECT_EQ(dec("\xE2\x82\xAC").cp, 0x20ACu);  // €
  EXPECT_EQ(dec("\xE2\x82\xAC").len, 3u);
  EXPECT_EQ(dec("\xED\x9F\xBF").cp, 0xD7FFu);  // last before the surrogates
  EXPECT_EQ(dec("\xEE\x80\x80").cp, 0xE000u);  // first after them
  EXPECT_EQ(dec("\xEF\xBF\xBF").cp, 0xFFFFu);
  EXPECT_EQ(dec("\xF0\x90\x80\x80").cp, 0x10000u);
  EXPECT_EQ(dec("\xF0\x9F\x98\x80").cp, 0x1F600u);  // 😀
  EXPECT_EQ(dec("\xF0\x9F\x98\x80").len, 4u);
  EXPECT_EQ(dec("\xF4\x8F\xBF\xBF").cp, 0x10FFFFu);
  // Decoding in the middle of a string reads only from pos.
  EXPECT_EQ(utf8::decode("a\xC3\xA9z", 1).cp, 0xE9u);
  EXPECT_EQ(utf8::decode("a\xC3\xA9z", 3).cp, U'z');
}

TEST(Utf8, RejectsIllFormedSequences) {
  const char* bad[] = {
      "\x80",              // stray continuation byte
      "\xBF",              //
      "\xC0\x80",          // overlong NUL
      "\xC1\xBF",          // overlong 0x7F
      "\xE0\x80\x80",      // overlong 3-byte
      "\xE0\x9F\xBF",      // overlong 0x7FF
      "\xF0\x80\x80\x80",  // overlong 4-byte
      "\xF0\x8F\xBF\xBF",  // overlong 0xFFFF
      "\xED\xA0\x80",      // U+D800 (surrogate)
      "\xED\xBF\xBF",      // U+DFFF
      "\xF4\x90\x80\x80",  // U+110000
      "\xF5\x80\x80\x80",  // lead byte beyond the range
      "\xF8\x88\x80\x80",  // 5-byte form
      "\xFF",              //
      "\xC3",              // truncated 2-byte
      "\xE2\x82",          // truncated 3-byte
      "\xF0\x9F\x98",      // truncated 4-byte
      "\xC3(",             // lead byte followed by a non-continuation byte
      "\xE2\x28\xA1",      //
  };
  for (const char* s : bad) {
    const utf8::Decoded d = dec(s);
    EXPECT_FALSE(d.ok()) << "accepted " << testing::PrintToString(std::string(s));
    EXPECT_EQ(d.len, 0u);
    EXPECT_EQ(d.cp, 0u);
    EXPECT_FALSE(utf8::valid(s));
  }
}

TEST(Utf8, LeadLengthReadsOnlyTheBitPattern) {
  EXPECT_EQ(utf8::lead_length('a'), 1u);
  EXPECT_EQ(utf8::lead_length(0x80), 0u);
  EXPECT_EQ(utf8::lead_length(0xC0), 2u);  // never valid, but announces 2 bytes
  EXPECT_EQ(utf8::lead_length(0xE0), 3u);
  EXPECT_EQ(utf8::lead_length(0xF5), 4u);
  EXPECT_EQ(utf8::lead_length(0xF8), 0u);
  EXPECT_TRUE(utf8::is_continuation(0x80));
  EXPECT_TRUE(utf8::is_continuation(0xBF));
  EXPECT_FALSE(utf8::is_continuation(0xC0));
  EXPECT_FALSE(utf8::is_continuation('a'));
}

TEST(Utf8, EncodeRoundTripsEveryScalarValue) {
  for (char32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    std::string s;
    utf8::encode(s, cp);
    const utf8::Decoded d = dec(s);
    ASSERT_TRUE(d.ok()) << static_cast<uint32_t>(cp);
    ASSERT_EQ(d.cp, cp);
    ASSERT_EQ(d.len, s.size());
    ASSERT_EQ(s.size(), cp < 0x80 ? 1u : cp < 0x800 ? 2u : cp < 0x10000 ? 3u : 4u);
  }
}

TEST(Utf8, EncodeReplacesNonScalarValuesUnlessUnchecked) {
  std::string s;
  utf8::encode(s, 0xD800);
  EXPECT_EQ(s, "\xEF\xBF\xBD");
  s.clear();
  utf8::encode(s, 0x110000);
  EXPECT_EQ(s, "\xEF\xBF\xBD");
  s.clear();
  utf8::encode_unchecked(s, 0xD800);  // WTF-8 form of a lone surrogate
  EXPECT_EQ(s, "\xED\xA0\x80");
  s.clear();
  utf8::encode_unchecked(s, 0x20AC);
  EXPECT_EQ(s, "\xE2\x82\xAC");
}

TEST(Utf8, Valid) {
  EXPECT_TRUE(utf8::valid(""));
  EXPECT_TRUE(utf8::valid("plain ascii"));
  EXPECT_TRUE(utf8::valid("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_FALSE(utf8::valid("ok\xC3"));
  EXPECT_FALSE(utf8::valid("\xC3\xA9\x80"));
}

TEST(Utf8, RepairReplacesEachMaximalSubpart) {
  EXPECT_EQ(utf8::repair("h\xC3\xA9llo"), "h\xC3\xA9llo");
  EXPECT_EQ(utf8::repair("a\xF0\x9F\x98z"), "a\xEF\xBF\xBDz");      // one truncated sequence: one U+FFFD
  EXPECT_EQ(utf8::repair("\xC0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // C0 leads nothing
  EXPECT_EQ(utf8::repair("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(utf8::repair("\xE2\x82"), "\xEF\xBF\xBD");
  EXPECT_EQ(utf8::maximal_subpart("\xF0\x9F\x98z", 0), 3u);
  EXPECT_EQ(utf8::maximal_subpart("\xF0\x80", 0), 1u);
  EXPECT_EQ(utf8::maximal_subpart("\x80", 0), 1u);
}

TEST(Utf8, CompletePrefixStrict) {
  EXPECT_EQ(utf8::complete_prefix(""), 0u);
  EXPECT_EQ(utf8::complete_prefix("abc"), 3u);
  EXPECT_EQ(utf8::complete_prefix("ab\xC3"), 2u);
  EXPECT_EQ(utf8::complete_prefix("ab\xE2\x82"), 2u);
  EXPECT_EQ(utf8::complete_prefix("ab\xF0\x9F\x98"), 2u);
  EXPECT_EQ(utf8::complete_prefix("ab\xF0\x9F\x98\x80"), 6u);
  EXPECT_EQ(utf8::complete_prefix("ab\xC3\xA9"), 4u);
  // Tails that can never complete are invalid bytes, not held back.
  EXPECT_EQ(utf8::complete_prefix("ab\xC0"), 3u);
  EXPECT_EQ(utf8::complete_prefix("ab\xE0\x80"), 4u);  // overlong start
  EXPECT_EQ(utf8::complete_prefix("ab\xED\xA0"), 4u);  // surrogate start
  EXPECT_EQ(utf8::complete_prefix("ab\xF5"), 3u);
  EXPECT_EQ(utf8::complete_prefix("ab\x80\x80\x80"), 5u);  // no lead byte within 3 bytes
}

TEST(Utf8, CompletePrefixLeadByteOnly) {
  constexpr auto kLead = utf8::TailCheck::kLeadByte;
  EXPECT_EQ(utf8::complete_prefix("abc", kLead), 3u);
  EXPECT_EQ(utf8::complete_prefix("ab\xC3", kLead), 2u);
  EXPECT_EQ(utf8::complete_prefix("ab\xF0\x9F\x98", kLead), 2u);
  EXPECT_EQ(utf8::complete_prefix("ab\xF0\x9F\x98\x80", kLead), 6u);
  // Only the bit pattern counts: these are held back, unlike in the strict check.
  EXPECT_EQ(utf8::complete_prefix("ab\xC0", kLead), 2u);
  EXPECT_EQ(utf8::complete_prefix("ab\xE0\x80", kLead), 2u);
  EXPECT_EQ(utf8::complete_prefix("ab\xF5", kLead), 2u);
  EXPECT_EQ(utf8::complete_prefix("ab\xF8", kLead), 3u);  // announces nothing
  EXPECT_EQ(utf8::complete_prefix("ab\x80\x80\x80", kLead), 5u);
}

TEST(Utf8, CountLeadBytes) {
  EXPECT_EQ(utf8::count_lead_bytes(""), 0u);
  EXPECT_EQ(utf8::count_lead_bytes("abc"), 3u);
  EXPECT_EQ(utf8::count_lead_bytes("h\xC3\xA9 \xE2\x82\xAC\xF0\x9F\x98\x80"), 5u);
  EXPECT_EQ(utf8::count_lead_bytes("\x80\x80"), 0u);  // stray continuation bytes count nothing
}

}  // namespace
}  // namespace lpx
