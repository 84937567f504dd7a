// Jinja2 syntax tree produced by the parser and walked by the interpreter. Immutable after parsing, so
// one tree can be rendered by several threads at once (constants are scalars or shared immutable strings).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "text/jinja/value.h"

namespace lpx::jinja {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using StmtList = std::vector<StmtPtr>;

enum class ExprKind : uint8_t {
  kConst,    // value
  kName,     // name
  kGetattr,  // a.name
  kGetitem,  // a[b]  (b may be a kSlice)
  kSlice,    // a:b:c inside a subscript; children may be null
  kCall,     // callee(args...)
  kFilter,   // a | name(args...)
  kTest,     // a is [not] name(args...)
  kNot,
  kNeg,
  kPos,
  kBinary,  // op in {+,-,*,/,//,%,**}
  kAnd,
  kOr,
  kConcat,    // a ~ b ~ c
  kCompare,   // a op b op c
  kCondExpr,  // a if cond else b
  kList,
  kTuple,
  kDict,
};

struct CallArgExprs {
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  ExprPtr dyn_args;    // *args
  ExprPtr dyn_kwargs;  // **kwargs
};

struct Expr {
  ExprKind kind;
  int line = 0;
  Value value;                   // kConst
  std::string name;              // kName, kGetattr attribute, kFilter/kTest name, kBinary op
  ExprPtr a, b, c;               // operands (kGetattr/kGetitem/kFilter/kTest: a = subject; kSlice: a,b,c)
  std::vector<ExprPtr> items;    // kList/kTuple/kConcat items; kDict keys; kCompare operands (after a)
  std::vector<ExprPtr> values;   // kDict values
  std::vector<std::string> ops;  // kCompare operators ("==", "<", "in", "notin", ...)
  CallArgExprs call;             // kCall/kFilter/kTest arguments
  bool negated = false;          // kTest
  bool known = true;             // kFilter/kTest: name exists (unknown ones inside `if` fail at run time)

  Expr(ExprKind k, int l) : kind(k), line(l) {}
};

enum class StmtKind : uint8_t {
  kData,
  kOutput,
  kIf,
  kFor,
  kSet,       // set target = expr
  kSetBlock,  // set target %}...{% endset
  kMacro,
  kCallBlock,
  kFilterBlock,
  kWith,
  kBreak,
  kContinue,
  kScope,  // body rendered as-is ({% generation %})
};

// Assignment target: a name, a namespace attribute (ns.attr) or a (nested) tuple of targets.
struct Target {
  enum class Kind : uint8_t { kName, kNsAttr, kTuple } kind = Kind::kName;
  std::string name;
  std::string attr;
  std::vector<Target> items;
};

struct MacroDef {
  std::string name;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // aligned to the last params
  StmtList body;
  bool uses_caller = false, uses_varargs = false, uses_kwargs = false;
  bool needs_heap_scope = false;  // body defines closures that may capture its scope
};

struct Stmt {
  StmtKind kind;
  int line = 0;
  std::string text;                                    // kData
  ExprPtr expr;                                        // kOutput, kSet value, kFor iterable, kCallBlock call
  std::vector<std::pair<ExprPtr, StmtList>> branches;  // kIf (cond, body)...
  StmtList body;                                       // kFor/kSetBlock/kFilterBlock/kWith/kScope body
  StmtList else_body;                                  // kIf else, kFor else
  Target target;                                       // kFor/kSet/kSetBlock
  ExprPtr loop_filter;                                 // kFor "if" clause
  bool recursive = false;                              // kFor
  ExprPtr filter;  // kSetBlock/kFilterBlock: filter chain applied to a placeholder (kConst undefined) input
  std::shared_ptr<MacroDef> macro;                      // kMacro, kCallBlock (the caller)
  std::vector<std::pair<Target, ExprPtr>> assignments;  // kWith
  bool needs_heap_scope = false;                        // kFor/kWith/kSetBlock/kFilterBlock body defines closures

  Stmt(StmtKind k, int l) : kind(k), line(l) {}
};

struct Program {
  StmtList body;
};

}  // namespace lpx::jinja
