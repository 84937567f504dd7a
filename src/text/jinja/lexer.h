// Jinja2 lexer: splits template source into data and tag tokens, applying Jinja2's whitespace rules
// (trim_blocks, lstrip_blocks, "-"/"+" modifiers, keep_trailing_newline) exactly as its regex lexer does.
// Thread-safety: pure function. Errors: unterminated tags/strings/comments, unexpected characters or
// unbalanced brackets -> throws SyntaxError (internal; Template::parse turns it into a Status).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace lpx::jinja {

struct LexOptions {
  bool trim_blocks = false;
  bool lstrip_blocks = false;
  bool keep_trailing_newline = false;
};

enum class Tok : uint8_t {
  kData,        // literal template text
  kVarBegin,    // {{
  kVarEnd,      // }}
  kBlockBegin,  // {%
  kBlockEnd,    // %}
  kName,
  kString,  // value is the decoded string
  kInteger,
  kFloat,
  kOp,  // operator; value holds it ("+", "//", "==", "(", ...)
  kEof,
};

struct Token {
  Tok type;
  std::string value;
  int line;
};

// Parse-time failure with the template line it happened on.
struct SyntaxError {
  std::string message;
  int line;
};

std::vector<Token> tokenize(std::string_view source, const LexOptions& options);

const char* token_type_name(Tok t);

}  // namespace lpx::jinja
