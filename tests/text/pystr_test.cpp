// Jinja's Python str methods against Python itself: tests/data/text/pystr_cases.tsv holds what
// Python 3.11 (Unicode 14.0.0) printed for a few hundred code points across scripts and some
// context-dependent strings (tools/unicode/gen_pystr_cases.py). Each row is rendered through a
// template calling the str methods, so the method dispatch is checked along with pystr.
#include "text/jinja/pystr.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/utf8.h"
#include "text/jinja/template.h"

namespace lpx::jinja {
namespace {

using ojson = nlohmann::ordered_json;

std::vector<std::string> split(const std::string& s, const std::string& sep) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    const size_t f = s.find(sep, pos);
    if (f == std::string::npos) break;
    out.push_back(s.substr(pos, f - pos));
    pos = f + sep.size();
  }
  out.push_back(s.substr(pos));
  return out;
}

// "41 300" -> "A\u0300"; "-" -> "".
std::string from_hex(const std::string& field) {
  std::string out;
  if (field == "-") return out;
  for (const std::string& h : split(field, " ")) {
    utf8::encode(out, static_cast<char32_t>(std::stoul(h, nullptr, 16)));
  }
  return out;
}

std::string to_hex(const std::string& s) {
  if (s.empty()) return "-";
  std::string out;
  char buf[16];
  for (char32_t c : pystr::decode(s)) {
    std::snprintf(buf, sizeof(buf), "%s%X", out.empty() ? "" : " ", static_cast<unsigned>(c));
    out += buf;
  }
  return out;
}

constexpr const char* kMethods[] = {"isalpha", "isdecimal", "isdigit",    "isnumeric",   "isalnum",
                                    "isspace", "islower",   "isupper",    "isprintable", "upper",
                                    "lower",   "title",     "capitalize", "swapcase",    "casefold"};
constexpr size_t kNumMethods = std::size(kMethods);
constexpr size_t kPrintable = 8;    // not a Jinja method here: checked through pystr::is_printable
constexpr size_t kFirstString = 9;  // the is* columns before it are 0/1

TEST(PyStr, MatchesPythonAcrossScripts) {
  std::ifstream f(std::string(LPX_SOURCE_DIR) + "/tests/data/text/pystr_cases.tsv");
  ASSERT_TRUE(f.good()) << "tests/data/text/pystr_cases.tsv missing";
  std::string src;
  for (size_t m = 0; m < kNumMethods; ++m) {
    if (m == kPrintable) continue;
    if (!src.empty()) src += "<|>";
    src += std::string("{{ s.") + kMethods[m] + "() }}";
  }
  auto t = Template::parse(src, ParseOptions{});
  ASSERT_TRUE(t.is_ok()) << t.status().to_string();

  std::string line;
  int rows = 0, failures = 0;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    const std::vector<std::string> cols = split(line, "\t");
    ASSERT_EQ(cols.size(), kNumMethods + 1) << line;
    ++rows;
    const std::string s = from_hex(cols[0]);
    auto out = t->render(ojson{{"s", s}}, RenderOptions{});
    ASSERT_TRUE(out.is_ok()) << cols[0] << ": " << out.status().to_string();
    std::vector<std::string> got = split(*out, "<|>");
    ASSERT_EQ(got.size(), kNumMethods - 1) << cols[0];
    bool printable = true;
    for (char32_t c : pystr::decode(s)) printable = printable && pystr::is_printable(c);
    got.insert(got.begin() + kPrintable, printable ? "True" : "False");
    for (size_t m = 0; m < kNumMethods; ++m) {
      const std::string& want = cols[m + 1];
      const bool is_bool = m < kFirstString;
      const std::string expected = is_bool ? (want == "1" ? "True" : "False") : want;
      const std::string actual = is_bool ? got[m] : to_hex(got[m]);
      if (actual != expected && ++failures <= 40) {
        ADD_FAILURE() << "[" << cols[0] << "]." << kMethods[m] << "(): Python " << expected << ", got " << actual;
      }
    }
  }
  EXPECT_GT(rows, 400);
  EXPECT_EQ(failures, 0);
}

TEST(PyStr, SurrogateEscapedBytesRoundTrip) {
  const std::string bad = "a\xFF\xC3(z";
  const std::u32string u = pystr::decode(bad);
  EXPECT_EQ(u, (std::u32string{U'a', 0xDCFF, 0xDCC3, U'(', U'z'}));
  EXPECT_EQ(pystr::encode(u), bad);
  EXPECT_EQ(pystr::upper(bad), "A\xFF\xC3(Z");
}

}  // namespace
}  // namespace lpx::jinja
