// Tests for StopChecker (stop strings over streamed text) and is_stop_token.
#include "engine/stop_checker.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace lpx {
namespace {

// Feeds the pieces; returns everything emitted (plus flush() when no stop) and whether it stopped.
struct Fed {
  std::string text;
  bool stopped = false;
  int matched = -1;
};
Fed feed(std::vector<std::string> stops, const std::vector<std::string>& pieces) {
  StopChecker c(std::move(stops));
  Fed r;
  for (const std::string& p : pieces) {
    StopChecker::Out o = c.push(p);
    r.text += o.emit;
    if (o.stopped) {
      r.stopped = true;
      break;
    }
  }
  if (!r.stopped) r.text += c.flush();
  r.matched = c.matched_index();
  return r;
}

TEST(StopChecker, NoStopsPassesThrough) {
  StopChecker c({});
  EXPECT_EQ(c.push("Hello").emit, "Hello");
  EXPECT_EQ(c.push(", world").emit, ", world");
  EXPECT_FALSE(c.stopped());
  EXPECT_EQ(c.flush(), "");
}

TEST(StopChecker, StopInsideOnePiece) {
  StopChecker c({"END"});
  StopChecker::Out o = c.push("abc END def");
  EXPECT_TRUE(o.stopped);
  EXPECT_EQ(o.emit, "abc ");
  EXPECT_EQ(c.matched_index(), 0);
  // Pushes after the stop return nothing.
  o = c.push("more");
  EXPECT_TRUE(o.stopped);
  EXPECT_EQ(o.emit, "");
  EXPECT_EQ(c.flush(), "");
}

TEST(StopChecker, StopSpanningPiecesIsHeldThenDropped) {
  StopChecker c({"</answer>"});
  StopChecker::Out o = c.push("The result is 42<");
  EXPECT_EQ(o.emit, "The result is 42");  // "<" might start the stop string
  EXPECT_FALSE(o.stopped);
  EXPECT_EQ(c.held_bytes(), 1u);
  o = c.push("/ans");
  EXPECT_EQ(o.emit, "");
  EXPECT_EQ(c.held_bytes(), 5u);
  o = c.push("wer> trailing");
  EXPECT_TRUE(o.stopped);
  EXPECT_EQ(o.emit, "");
}

TEST(StopChecker, FalseStartIsReleased) {
  StopChecker c({"</answer>"});
  EXPECT_EQ(c.push("a </an").emit, "a ");
  EXPECT_EQ(c.push("chor>").emit, "</anchor>");
  EXPECT_FALSE(c.stopped());
  EXPECT_EQ(c.push("x<").emit, "x");
  EXPECT_EQ(c.flush(), "<");  // end without a stop: held text is released
}

TEST(StopChecker, OneCharacterPieces) {
  const std::string text = "one\n\ntwo";
  std::vector<std::string> pieces;
  for (char ch : text) pieces.emplace_back(1, ch);
  Fed r = feed({"\n\n"}, pieces);
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "one");
}

TEST(StopChecker, OverlappingPrefixes) {
  // "aab": after "aa" the held suffix must be re-evaluated ("aaab" contains it at offset 1).
  Fed r = feed({"aab"}, {"xa", "a", "a", "b", "zzz"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "xa");
  // Self-overlapping stop "abab" in "abababx": not matched until the full string appears.
  r = feed({"abab"}, {"ab", "a", "b"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "");
  r = feed({"abab"}, {"aba", "c", "ab"});
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(r.text, "abacab");
}

TEST(StopChecker, MultipleStopsEarliestWins) {
  Fed r = feed({"world", "lo"}, {"hel", "lo wor", "ld"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "hel");
  EXPECT_EQ(r.matched, 1);
  // Same start: first in the list; output is the same either way.
  r = feed({"abc", "ab"}, {"xxab", "c"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "xx");
  EXPECT_EQ(r.matched, 1);
  // Hold is the longest prefix of any stop.
  StopChecker c({"STOP", "ST!", "T"});
  EXPECT_EQ(c.push("xS").emit, "x");
  EXPECT_EQ(c.push("t").emit, "St");  // case-sensitive
  StopChecker::Out o = c.push("aT");
  EXPECT_TRUE(o.stopped);
  EXPECT_EQ(o.emit, "a");
  EXPECT_EQ(c.matched_index(), 2);
}

TEST(StopChecker, StopAtVeryStart) {
  Fed r = feed({"###"}, {"##", "#", "tail"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "");
}

TEST(StopChecker, UnicodeStopsAndText) {
  // Stop string with multi-byte characters split across pieces at byte level.
  const std::string stop = "\xE3\x80\x82\xE7\xB5\x82";                                      // "。終"
  const std::string text = "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E" + stop + "\xE3\x81\x82";  // "日本語。終あ"
  std::vector<std::string> pieces;
  for (size_t i = 0; i < text.size(); i += 2) pieces.push_back(text.substr(i, 2));
  Fed r = feed({stop}, pieces);
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E");

  // Emoji without stops: a split 4-byte character is held until complete.
  StopChecker c({"\xF0\x9F\x9B\x91"});  // "🛑"
  StopChecker::Out o = c.push("ok \xF0\x9F");
  EXPECT_EQ(o.emit, "ok ");
  o = c.push("\x98\x80!");  // "😀!" completes: not the stop emoji
  EXPECT_EQ(o.emit, "\xF0\x9F\x98\x80!");
  EXPECT_FALSE(o.stopped);
  o = c.push("\xC3");  // half of "é"
  EXPECT_EQ(o.emit, "");
  o = c.push("\xA9 \xF0\x9F\x9B\x91 rest");
  EXPECT_TRUE(o.stopped);
  EXPECT_EQ(o.emit, "\xC3\xA9 ");
}

TEST(StopChecker, IncompleteUtf8WithoutStopsIsHeldUntilFlush) {
  StopChecker c({});
  EXPECT_EQ(c.push("a\xE2\x82").emit, "a");
  EXPECT_EQ(c.push("\xAC").emit, "\xE2\x82\xAC");  // "€"
  EXPECT_EQ(c.push("\xE2").emit, "");
  EXPECT_EQ(c.flush(), "\xE2");  // released at the end even if incomplete
  // An invalid lone lead byte followed by ASCII is not held forever.
  StopChecker d({});
  EXPECT_EQ(d.push("\xE2z").emit, "\xE2z");
}

TEST(StopChecker, FlushWithoutStopReleasesHeldText) {
  Fed r = feed({"<|end|>"}, {"answer: yes", " <|en"});
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(r.text, "answer: yes <|en");
}

TEST(StopChecker, EmptyStopStringsAreIgnored) {
  Fed r = feed({"", "x"}, {"ab", "cxd"});
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "abc");
  EXPECT_EQ(r.matched, 1);
}

TEST(StopToken, StopIdsAndEos) {
  SamplingParams p;
  p.stop_token_ids = {7, 9};
  const std::vector<int32_t> eos = {2, 128009};
  EXPECT_TRUE(is_stop_token(p, 7, eos));
  EXPECT_TRUE(is_stop_token(p, 9, eos));
  EXPECT_TRUE(is_stop_token(p, 2, eos));
  EXPECT_TRUE(is_stop_token(p, 128009, eos));
  EXPECT_FALSE(is_stop_token(p, 3, eos));
  p.ignore_eos = true;
  EXPECT_FALSE(is_stop_token(p, 2, eos));
  EXPECT_TRUE(is_stop_token(p, 7, eos));  // explicit stop ids still apply
  EXPECT_FALSE(is_stop_token(SamplingParams(), 5, {}));
}

}  // namespace
}  // namespace lpx
