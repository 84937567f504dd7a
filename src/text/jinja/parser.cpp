// Jinja2 parser (see parser.h): recursive descent mirroring jinja2/parser.py, plus a validation pass that
// applies Jinja2's compile-time checks (unknown filters/tests outside `if`, caller/varargs/kwargs usage).
#include "text/jinja/parser.h"

#include <cerrno>
#include <cstdlib>
#include <functional>
#include <set>

namespace lpx::jinja {

namespace {

constexpr int kMaxNesting = 200;

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : t_(std::move(tokens)) {}

  std::unique_ptr<Program> run() {
    auto prog = std::make_unique<Program>();
    prog->body = subparse({});
    if (cur().type != Tok::kEof) fail("unexpected " + describe(cur()), cur().line);
    return prog;
  }

 private:
  // ---- token stream ----
  const Token& cur() const { return t_[i_]; }
  const Token& look() const { return t_[i_ + 1 < t_.size() ? i_ + 1 : i_]; }
  const Token& next() {
    const Token& t = t_[i_];
    if (i_ + 1 < t_.size()) ++i_;
    return t;
  }
  bool is_name(const char* v) const { return cur().type == Tok::kName && cur().value == v; }
  bool is_op(const char* v) const { return cur().type == Tok::kOp && cur().value == v; }
  bool skip_name(const char* v) {
    if (!is_name(v)) return false;
    next();
    return true;
  }
  bool skip_op(const char* v) {
    if (!is_op(v)) return false;
    next();
    return true;
  }

  [[noreturn]] void fail(const std::string& msg, int line) { throw SyntaxError{msg, line}; }

  static std::string describe(const Token& t) {
    switch (t.type) {
      case Tok::kName:
      case Tok::kOp: return "'" + t.value + "'";
      case Tok::kString: return "string";
      case Tok::kInteger:
      case Tok::kFloat: return "number " + t.value;
      default: return token_type_name(t.type);
    }
  }

  void expect_op(const char* v) {
    if (!is_op(v)) fail(std::string("expected '") + v + "', got " + describe(cur()), cur().line);
    next();
  }
  const Token& expect_name() {
    if (cur().type != Tok::kName) fail("expected name, got " + describe(cur()), cur().line);
    return next();
  }
  void expect_name(const char* v) {
    if (!is_name(v)) fail(std::string("expected '") + v + "', got " + describe(cur()), cur().line);
    next();
  }
  void expect(Tok type) {
    if (cur().type != type) {
      fail(std::string("expected ") + token_type_name(type) + ", got " + describe(cur()), cur().line);
    }
    next();
  }

  // ---- statements ----
  StmtList subparse(const std::vector<std::string>& end_tokens) {
    StmtList body;
    while (cur().type != Tok::kEof) {
      const Token& tok = cur();
      if (tok.type == Tok::kData) {
        auto s = std::make_unique<Stmt>(StmtKind::kData, tok.line);
        s->text = tok.value;
        body.push_back(std::move(s));
        next();
      } else if (tok.type == Tok::kVarBegin) {
        int line = tok.line;
        next();
        auto s = std::make_unique<Stmt>(StmtKind::kOutput, line);
        s->expr = parse_tuple(true, false, {});
        expect(Tok::kVarEnd);
        body.push_back(std::move(s));
      } else if (tok.type == Tok::kBlockBegin) {
        next();
        if (cur().type == Tok::kName) {
          for (const auto& e : end_tokens) {
            if (cur().value == e) return body;
          }
        }
        parse_statement(body);
        expect(Tok::kBlockEnd);
      } else {
        fail("unexpected " + describe(tok), tok.line);
      }
    }
    if (!end_tokens.empty()) {
      std::string want;
      for (const auto& e : end_tokens) want += (want.empty() ? "'" : " or '") + e + "'";
      fail("unexpected end of template; was looking for " + want + " (a block is not closed)", cur().line);
    }
    return body;
  }

  StmtList parse_body(const std::vector<std::string>& end_tokens, bool drop_needle) {
    skip_op(":");
    expect(Tok::kBlockEnd);
    StmtList body = subparse(end_tokens);
    if (drop_needle) next();
    return body;
  }

  void parse_statement(StmtList& out) {
    const Token& tok = cur();
    if (tok.type != Tok::kName) fail("tag name expected", tok.line);
    const std::string name = tok.value;
    int line = tok.line;
    if (name == "if") {
      out.push_back(parse_if());
    } else if (name == "for") {
      out.push_back(parse_for());
    } else if (name == "set") {
      out.push_back(parse_set());
    } else if (name == "macro") {
      out.push_back(parse_macro());
    } else if (name == "call") {
      out.push_back(parse_call_block());
    } else if (name == "filter") {
      out.push_back(parse_filter_block());
    } else if (name == "with") {
      out.push_back(parse_with());
    } else if (name == "print") {
      next();
      auto s = std::make_unique<Stmt>(StmtKind::kOutput, line);
      s->expr = parse_tuple(true, false, {});
      out.push_back(std::move(s));
    } else if (name == "break" || name == "continue") {
      next();
      if (loop_depth_ == 0) fail("'" + name + "' outside of a loop", line);
      out.push_back(std::make_unique<Stmt>(name == "break" ? StmtKind::kBreak : StmtKind::kContinue, line));
    } else if (name == "generation") {
      next();
      auto s = std::make_unique<Stmt>(StmtKind::kScope, line);
      s->body = parse_body({"endgeneration"}, true);
      out.push_back(std::move(s));
    } else if (name == "extends" || name == "include" || name == "import" || name == "from" || name == "block" ||
               name == "autoescape" || name == "trans" || name == "do") {
      fail("unsupported tag '" + name + "' (chat templates cannot load other templates or use this extension)", line);
    } else {
      fail("Encountered unknown tag '" + name + "'.", line);
    }
  }

  StmtPtr parse_if() {
    auto s = std::make_unique<Stmt>(StmtKind::kIf, next().line);
    while (true) {
      ExprPtr cond = parse_tuple(false, false, {});
      StmtList body = parse_body({"elif", "else", "endif"}, false);
      s->branches.emplace_back(std::move(cond), std::move(body));
      const Token& t = next();
      if (t.value == "elif") continue;
      if (t.value == "else") s->else_body = parse_body({"endif"}, true);
      break;
    }
    return s;
  }

  StmtPtr parse_for() {
    auto s = std::make_unique<Stmt>(StmtKind::kFor, next().line);
    s->target = parse_assign_target(false, {"in"});
    if (s->target.kind == Target::Kind::kName && s->target.name == "loop") {
      fail("Can't assign to special loop variable in for-loop target", s->line);
    }
    expect_name("in");
    s->expr = parse_tuple(false, false, {"recursive"});
    if (skip_name("if")) s->loop_filter = parse_expression(true);
    s->recursive = skip_name("recursive");
    ++loop_depth_;
    s->body = parse_body({"endfor", "else"}, false);
    --loop_depth_;
    // The else block runs after the loop: break/continue there belong to an enclosing loop.
    if (next().value == "else") s->else_body = parse_body({"endfor"}, true);
    return s;
  }

  StmtPtr parse_set() {
    int line = next().line;
    Target target = parse_assign_target(true, {});
    if (skip_op("=")) {
      auto s = std::make_unique<Stmt>(StmtKind::kSet, line);
      s->target = std::move(target);
      s->expr = parse_tuple(true, false, {});
      return s;
    }
    auto s = std::make_unique<Stmt>(StmtKind::kSetBlock, line);
    s->target = std::move(target);
    if (is_op("|")) s->filter = parse_filter(nullptr, false);
    s->body = parse_body({"endset"}, true);
    return s;
  }

  std::shared_ptr<MacroDef> parse_signature_into(std::shared_ptr<MacroDef> m) {
    expect_op("(");
    while (!is_op(")")) {
      if (!m->params.empty()) expect_op(",");
      const Token& nt = expect_name();
      m->params.push_back(nt.value);
      if (skip_op("=")) {
        m->defaults.push_back(parse_expression(true));
      } else if (!m->defaults.empty()) {
        fail("non-default argument follows default argument", nt.line);
      }
    }
    expect_op(")");
    return m;
  }

  StmtPtr parse_macro() {
    auto s = std::make_unique<Stmt>(StmtKind::kMacro, next().line);
    auto m = std::make_shared<MacroDef>();
    m->name = expect_name().value;
    parse_signature_into(m);
    int saved = loop_depth_;
    loop_depth_ = 0;
    m->body = parse_body({"endmacro"}, true);
    loop_depth_ = saved;
    s->macro = std::move(m);
    return s;
  }

  StmtPtr parse_call_block() {
    auto s = std::make_unique<Stmt>(StmtKind::kCallBlock, next().line);
    auto m = std::make_shared<MacroDef>();
    m->name = "caller";
    if (is_op("(")) parse_signature_into(m);
    s->expr = parse_expression(true);
    if (s->expr->kind != ExprKind::kCall) fail("expected call", s->line);
    int saved = loop_depth_;
    loop_depth_ = 0;
    m->body = parse_body({"endcall"}, true);
    loop_depth_ = saved;
    s->macro = std::move(m);
    return s;
  }

  StmtPtr parse_filter_block() {
    auto s = std::make_unique<Stmt>(StmtKind::kFilterBlock, next().line);
    s->filter = parse_filter(nullptr, true);
    s->body = parse_body({"endfilter"}, true);
    return s;
  }

  StmtPtr parse_with() {
    auto s = std::make_unique<Stmt>(StmtKind::kWith, next().line);
    while (cur().type != Tok::kBlockEnd) {
      if (!s->assignments.empty()) expect_op(",");
      Target t = parse_assign_target(false, {});
      expect_op("=");
      s->assignments.emplace_back(std::move(t), parse_expression(true));
    }
    s->body = parse_body({"endwith"}, true);
    return s;
  }

  Target parse_assign_target(bool with_namespace, const std::vector<std::string>& extra_end) {
    if (with_namespace && cur().type == Tok::kName && look().type == Tok::kOp && look().value == ".") {
      Target t;
      t.kind = Target::Kind::kNsAttr;
      t.name = next().value;
      next();  // dot
      t.attr = expect_name().value;
      return t;
    }
    int line = cur().line;
    ExprPtr e = parse_tuple(true, true, extra_end);
    return to_target(*e, line);
  }

  Target to_target(const Expr& e, int line) {
    Target t;
    if (e.kind == ExprKind::kName) {
      t.kind = Target::Kind::kName;
      t.name = e.name;
      return t;
    }
    if (e.kind == ExprKind::kTuple) {
      t.kind = Target::Kind::kTuple;
      for (const auto& it : e.items) t.items.push_back(to_target(*it, line));
      return t;
    }
    fail("can't assign to this expression", line);
  }

  // ---- expressions ----
  struct DepthGuard {
    Parser* p;
    explicit DepthGuard(Parser* parser) : p(parser) {
      if (++p->depth_ > kMaxNesting) p->fail("expression nested too deeply", p->cur().line);
    }
    ~DepthGuard() { --p->depth_; }
  };

  bool is_tuple_end(const std::vector<std::string>& extra_end) const {
    if (cur().type == Tok::kVarEnd || cur().type == Tok::kBlockEnd || is_op(")")) return true;
    if (cur().type == Tok::kName) {
      for (const auto& e : extra_end) {
        if (cur().value == e) return true;
      }
    }
    return false;
  }

  // parse_tuple(simplified, with_condexpr, extra_end_rules, explicit_parentheses)
  ExprPtr parse_tuple(bool with_condexpr, bool simplified, const std::vector<std::string>& extra_end,
                      bool explicit_parens = false) {
    int line = cur().line;
    std::vector<ExprPtr> args;
    bool is_tuple = false;
    while (true) {
      if (!args.empty()) expect_op(",");
      if (is_tuple_end(extra_end)) break;
      if (simplified) {
        args.push_back(parse_primary());
      } else {
        args.push_back(parse_expression(with_condexpr));
      }
      if (is_op(",")) {
        is_tuple = true;
      } else {
        break;
      }
      line = cur().line;
    }
    if (!is_tuple) {
      if (!args.empty()) return std::move(args[0]);
      if (!explicit_parens) fail("Expected an expression, got " + describe(cur()), cur().line);
    }
    auto e = std::make_unique<Expr>(ExprKind::kTuple, line);
    e->items = std::move(args);
    return e;
  }

  ExprPtr parse_expression(bool with_condexpr) { return with_condexpr ? parse_condexpr() : parse_or(); }

  ExprPtr parse_condexpr() {
    DepthGuard g(this);
    int line = cur().line;
    ExprPtr expr1 = parse_or();
    while (skip_name("if")) {
      ExprPtr cond = parse_or();
      ExprPtr expr3;
      if (skip_name("else")) expr3 = parse_condexpr();
      auto e = std::make_unique<Expr>(ExprKind::kCondExpr, line);
      e->a = std::move(expr1);
      e->b = std::move(cond);
      e->c = std::move(expr3);
      expr1 = std::move(e);
      line = cur().line;
    }
    return expr1;
  }

  ExprPtr parse_or() {
    int line = cur().line;
    ExprPtr left = parse_and();
    while (skip_name("or")) {
      auto e = std::make_unique<Expr>(ExprKind::kOr, line);
      e->a = std::move(left);
      e->b = parse_and();
      left = std::move(e);
      line = cur().line;
    }
    return left;
  }

  ExprPtr parse_and() {
    int line = cur().line;
    ExprPtr left = parse_not();
    while (skip_name("and")) {
      auto e = std::make_unique<Expr>(ExprKind::kAnd, line);
      e->a = std::move(left);
      e->b = parse_not();
      left = std::move(e);
      line = cur().line;
    }
    return left;
  }

  ExprPtr parse_not() {
    DepthGuard g(this);
    if (is_name("not")) {
      int line = next().line;
      auto e = std::make_unique<Expr>(ExprKind::kNot, line);
      e->a = parse_not();
      return e;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    int line = cur().line;
    ExprPtr expr = parse_math1();
    std::vector<std::string> ops;
    std::vector<ExprPtr> operands;
    while (true) {
      if (cur().type == Tok::kOp && (cur().value == "==" || cur().value == "!=" || cur().value == "<" ||
                                     cur().value == "<=" || cur().value == ">" || cur().value == ">=")) {
        ops.push_back(next().value);
        operands.push_back(parse_math1());
      } else if (skip_name("in")) {
        ops.push_back("in");
        operands.push_back(parse_math1());
      } else if (is_name("not") && look().type == Tok::kName && look().value == "in") {
        next();
        next();
        ops.push_back("notin");
        operands.push_back(parse_math1());
      } else {
        break;
      }
      line = cur().line;
    }
    if (ops.empty()) return expr;
    auto e = std::make_unique<Expr>(ExprKind::kCompare, line);
    e->a = std::move(expr);
    e->ops = std::move(ops);
    e->items = std::move(operands);
    return e;
  }

  ExprPtr make_binary(const std::string& op, ExprPtr l, ExprPtr r, int line) {
    auto e = std::make_unique<Expr>(ExprKind::kBinary, line);
    e->name = op;
    e->a = std::move(l);
    e->b = std::move(r);
    return e;
  }

  ExprPtr parse_math1() {
    int line = cur().line;
    ExprPtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
      std::string op = next().value;
      ExprPtr right = parse_concat();
      left = make_binary(op, std::move(left), std::move(right), line);
      line = cur().line;
    }
    return left;
  }

  ExprPtr parse_concat() {
    int line = cur().line;
    std::vector<ExprPtr> args;
    args.push_back(parse_math2());
    while (skip_op("~")) args.push_back(parse_math2());
    if (args.size() == 1) return std::move(args[0]);
    auto e = std::make_unique<Expr>(ExprKind::kConcat, line);
    e->items = std::move(args);
    return e;
  }

  ExprPtr parse_math2() {
    int line = cur().line;
    ExprPtr left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      std::string op = next().value;
      ExprPtr right = parse_pow();
      left = make_binary(op, std::move(left), std::move(right), line);
      line = cur().line;
    }
    return left;
  }

  ExprPtr parse_pow() {
    int line = cur().line;
    ExprPtr left = parse_unary(true);
    while (skip_op("**")) {
      ExprPtr right = parse_unary(true);
      left = make_binary("**", std::move(left), std::move(right), line);
      line = cur().line;
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard g(this);
    int line = cur().line;
    ExprPtr node;
    if (is_op("-") || is_op("+")) {
      bool neg = next().value == "-";
      node = std::make_unique<Expr>(neg ? ExprKind::kNeg : ExprKind::kPos, line);
      node->a = parse_unary(false);
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr parse_primary() {
    DepthGuard g(this);
    const Token& tok = cur();
    int line = tok.line;
    if (tok.type == Tok::kName) {
      const std::string& v = tok.value;
      ExprPtr e;
      if (v == "true" || v == "True" || v == "false" || v == "False") {
        e = std::make_unique<Expr>(ExprKind::kConst, line);
        e->value = Value::boolean(v == "true" || v == "True");
      } else if (v == "none" || v == "None") {
        e = std::make_unique<Expr>(ExprKind::kConst, line);
        e->value = Value::none();
      } else {
        e = std::make_unique<Expr>(ExprKind::kName, line);
        e->name = v;
      }
      next();
      return e;
    }
    if (tok.type == Tok::kString) {
      std::string buf = next().value;
      while (cur().type == Tok::kString) buf += next().value;
      auto e = std::make_unique<Expr>(ExprKind::kConst, line);
      e->value = Value::string(std::move(buf));
      return e;
    }
    if (tok.type == Tok::kInteger) {
      std::string digits = next().value;
      auto e = std::make_unique<Expr>(ExprKind::kConst, line);
      errno = 0;
      char* endp = nullptr;
      long long v = std::strtoll(digits.c_str(), &endp, 10);
      if (errno == ERANGE) {
        e->value = Value::floating(std::strtod(digits.c_str(), nullptr));
      } else {
        e->value = Value::integer(static_cast<int64_t>(v));
      }
      return e;
    }
    if (tok.type == Tok::kFloat) {
      std::string digits = next().value;
      auto e = std::make_unique<Expr>(ExprKind::kConst, line);
      e->value = Value::floating(std::strtod(digits.c_str(), nullptr));
      return e;
    }
    if (is_op("(")) {
      next();
      ExprPtr e = parse_tuple(true, false, {}, true);
      expect_op(")");
      return e;
    }
    if (is_op("[")) {
      next();
      auto e = std::make_unique<Expr>(ExprKind::kList, line);
      while (!is_op("]")) {
        if (!e->items.empty()) expect_op(",");
        if (is_op("]")) break;
        e->items.push_back(parse_expression(true));
      }
      expect_op("]");
      return e;
    }
    if (is_op("{")) {
      next();
      auto e = std::make_unique<Expr>(ExprKind::kDict, line);
      while (!is_op("}")) {
        if (!e->items.empty()) expect_op(",");
        if (is_op("}")) break;
        e->items.push_back(parse_expression(true));
        expect_op(":");
        e->values.push_back(parse_expression(true));
      }
      expect_op("}");
      return e;
    }
    fail("unexpected " + describe(tok), line);
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      if (is_op(".") || is_op("[")) {
        node = parse_subscript(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        break;
      }
    }
    return node;
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      if (is_op("|")) {
        node = parse_filter(std::move(node), false);
      } else if (is_name("is")) {
        node = parse_test(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        break;
      }
    }
    return node;
  }

  ExprPtr parse_subscript(ExprPtr node) {
    DepthGuard g(this);
    const Token& tok = next();
    int line = tok.line;
    if (tok.value == ".") {
      const Token& attr = cur();
      if (attr.type == Tok::kName) {
        auto e = std::make_unique<Expr>(ExprKind::kGetattr, line);
        e->a = std::move(node);
        e->name = next().value;
        return e;
      }
      if (attr.type != Tok::kInteger) fail("expected name or number", attr.line);
      auto idx = std::make_unique<Expr>(ExprKind::kConst, attr.line);
      idx->value = Value::integer(std::strtoll(next().value.c_str(), nullptr, 10));
      auto e = std::make_unique<Expr>(ExprKind::kGetitem, line);
      e->a = std::move(node);
      e->b = std::move(idx);
      return e;
    }
    // '['
    std::vector<ExprPtr> args;
    while (!is_op("]")) {
      if (!args.empty()) expect_op(",");
      args.push_back(parse_subscribed());
    }
    expect_op("]");
    auto e = std::make_unique<Expr>(ExprKind::kGetitem, line);
    e->a = std::move(node);
    if (args.size() == 1) {
      e->b = std::move(args[0]);
    } else {
      auto t = std::make_unique<Expr>(ExprKind::kTuple, line);
      t->items = std::move(args);
      e->b = std::move(t);
    }
    return e;
  }

  ExprPtr parse_subscribed() {
    int line = cur().line;
    ExprPtr start;
    if (is_op(":")) {
      next();
    } else {
      ExprPtr node = parse_expression(true);
      if (!is_op(":")) return node;
      next();
      start = std::move(node);
    }
    auto e = std::make_unique<Expr>(ExprKind::kSlice, line);
    e->a = std::move(start);
    if (is_op(":")) {
      // no stop
    } else if (!is_op("]") && !is_op(",")) {
      e->b = parse_expression(true);
    }
    if (skip_op(":")) {
      if (!is_op("]") && !is_op(",")) e->c = parse_expression(true);
    }
    return e;
  }

  void parse_call_args(CallArgExprs* out) {
    int line = cur().line;
    expect_op("(");
    bool require_comma = false;
    auto ensure = [&](bool ok) {
      if (!ok) fail("invalid syntax for function call expression", line);
    };
    while (!is_op(")")) {
      if (require_comma) {
        expect_op(",");
        if (is_op(")")) break;
      }
      if (is_op("*")) {
        ensure(!out->dyn_args && !out->dyn_kwargs);
        next();
        out->dyn_args = parse_expression(true);
      } else if (is_op("**")) {
        ensure(!out->dyn_kwargs);
        next();
        out->dyn_kwargs = parse_expression(true);
      } else if (cur().type == Tok::kName && look().type == Tok::kOp && look().value == "=") {
        ensure(!out->dyn_kwargs);
        std::string key = next().value;
        next();
        out->kwargs.emplace_back(std::move(key), parse_expression(true));
      } else {
        ensure(!out->dyn_args && !out->dyn_kwargs && out->kwargs.empty());
        out->args.push_back(parse_expression(true));
      }
      require_comma = true;
    }
    expect_op(")");
  }

  ExprPtr parse_call(ExprPtr node) {
    DepthGuard g(this);
    auto e = std::make_unique<Expr>(ExprKind::kCall, cur().line);
    e->a = std::move(node);
    parse_call_args(&e->call);
    return e;
  }

  ExprPtr parse_filter(ExprPtr node, bool start_inline) {
    while (is_op("|") || start_inline) {
      DepthGuard g(this);
      if (!start_inline) next();
      const Token& nt = expect_name();
      auto e = std::make_unique<Expr>(ExprKind::kFilter, nt.line);
      e->name = nt.value;
      while (is_op(".")) {
        next();
        e->name += "." + expect_name().value;
      }
      e->known = is_known_filter(e->name);
      if (is_op("(")) parse_call_args(&e->call);
      e->a = std::move(node);
      node = std::move(e);
      start_inline = false;
    }
    return node;
  }

  ExprPtr parse_test(ExprPtr node) {
    DepthGuard g(this);
    int line = next().line;  // 'is'
    bool negated = skip_name("not");
    auto e = std::make_unique<Expr>(ExprKind::kTest, line);
    e->name = expect_name().value;
    while (is_op(".")) {
      next();
      e->name += "." + expect_name().value;
    }
    e->negated = negated;
    e->known = is_known_test(e->name);
    const Token& t = cur();
    bool arg_start = t.type == Tok::kName || t.type == Tok::kString || t.type == Tok::kInteger ||
                     t.type == Tok::kFloat || (t.type == Tok::kOp && (t.value == "[" || t.value == "{"));
    if (is_op("(")) {
      parse_call_args(&e->call);
    } else if (arg_start && !is_name("else") && !is_name("or") && !is_name("and")) {
      if (is_name("is")) fail("You cannot chain multiple tests with is", t.line);
      ExprPtr arg = parse_primary();
      e->call.args.push_back(parse_postfix(std::move(arg)));
    }
    e->a = std::move(node);
    return e;
  }

  std::vector<Token> t_;
  size_t i_ = 0;
  int loop_depth_ = 0;
  int depth_ = 0;
};

// ---- validation pass: Jinja2's compile-time checks ----

struct Validator {
  static void fail(const std::string& msg, int line) { throw SyntaxError{msg, line}; }

  // Returns true when the subtree defines a closure (macro or call block).
  static bool expr(const Expr* e, bool soft, MacroDef* macro) {
    if (e == nullptr) return false;
    bool closure = false;
    switch (e->kind) {
      case ExprKind::kName:
        if (macro != nullptr) {
          if (e->name == "caller") macro->uses_caller = true;
          if (e->name == "varargs") macro->uses_varargs = true;
          if (e->name == "kwargs") macro->uses_kwargs = true;
        }
        break;
      case ExprKind::kFilter:
      case ExprKind::kTest:
        if (!e->known && !soft) {
          fail(std::string("No ") + (e->kind == ExprKind::kFilter ? "filter" : "test") + " named '" + e->name + "'.",
               e->line);
        }
        break;
      case ExprKind::kCondExpr: soft = true; break;
      default: break;
    }
    closure |= expr(e->a.get(), soft, macro);
    closure |= expr(e->b.get(), soft, macro);
    closure |= expr(e->c.get(), soft, macro);
    for (const auto& x : e->items) closure |= expr(x.get(), soft, macro);
    for (const auto& x : e->values) closure |= expr(x.get(), soft, macro);
    for (const auto& x : e->call.args) closure |= expr(x.get(), soft, macro);
    for (const auto& kv : e->call.kwargs) closure |= expr(kv.second.get(), soft, macro);
    closure |= expr(e->call.dyn_args.get(), soft, macro);
    closure |= expr(e->call.dyn_kwargs.get(), soft, macro);
    return closure;
  }

  static bool body(const StmtList& list, bool soft, MacroDef* macro) {
    bool closure = false;
    for (const auto& s : list) closure |= stmt(s.get(), soft, macro);
    return closure;
  }

  static bool stmt(Stmt* s, bool soft, MacroDef* macro) {
    bool closure = false;
    switch (s->kind) {
      case StmtKind::kData:
      case StmtKind::kBreak:
      case StmtKind::kContinue: break;
      case StmtKind::kOutput:
      case StmtKind::kSet: closure |= expr(s->expr.get(), soft, macro); break;
      case StmtKind::kIf:
        for (auto& br : s->branches) {
          closure |= expr(br.first.get(), true, macro);
          closure |= body(br.second, true, macro);
        }
        closure |= body(s->else_body, true, macro);
        break;
      case StmtKind::kFor:
        closure |= expr(s->expr.get(), soft, macro);
        closure |= expr(s->loop_filter.get(), false, macro);
        s->needs_heap_scope = body(s->body, false, macro) || s->recursive;
        s->needs_heap_scope |= body(s->else_body, false, macro);
        closure |= s->needs_heap_scope;
        break;
      case StmtKind::kSetBlock:
      case StmtKind::kFilterBlock:
      case StmtKind::kScope:
        closure |= expr(s->filter.get(), false, macro);
        s->needs_heap_scope = body(s->body, false, macro);
        closure |= s->needs_heap_scope;
        break;
      case StmtKind::kWith:
        for (auto& a : s->assignments) closure |= expr(a.second.get(), soft, macro);
        s->needs_heap_scope = body(s->body, false, macro);
        closure |= s->needs_heap_scope;
        break;
      case StmtKind::kMacro:
      case StmtKind::kCallBlock: {
        MacroDef* m = s->macro.get();
        for (auto& d : m->defaults) expr(d.get(), false, m);
        m->needs_heap_scope = body(m->body, false, m);
        if (macro != nullptr) {
          // Jinja2 also sees names used inside nested macros.
          macro->uses_caller |= m->uses_caller;
          macro->uses_varargs |= m->uses_varargs;
          macro->uses_kwargs |= m->uses_kwargs;
        }
        if (s->kind == StmtKind::kCallBlock) expr(s->expr.get(), soft, macro);
        closure = true;
        break;
      }
    }
    return closure;
  }
};

}  // namespace

std::unique_ptr<Program> parse_tokens(std::vector<Token> tokens) {
  Parser p(std::move(tokens));
  std::unique_ptr<Program> prog = p.run();
  Validator::body(prog->body, false, nullptr);
  return prog;
}

}  // namespace lpx::jinja
