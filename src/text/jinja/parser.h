// Jinja2 parser: tokens -> Program (statements and expressions), following jinja2/parser.py's grammar
// and operator precedence. Thread-safety: pure function. Errors: throws SyntaxError with the line
// (unknown tags, malformed expressions, unclosed blocks, unknown filters/tests outside `if`, nesting too
// deep); Template::parse converts it to a Status.
#pragma once

#include <memory>
#include <vector>

#include "text/jinja/ast.h"
#include "text/jinja/lexer.h"

namespace lpx::jinja {

std::unique_ptr<Program> parse_tokens(std::vector<Token> tokens);

// Names of filters/tests the interpreter implements (used by the parser to reject unknown ones).
bool is_known_filter(const std::string& name);
bool is_known_test(const std::string& name);

}  // namespace lpx::jinja
