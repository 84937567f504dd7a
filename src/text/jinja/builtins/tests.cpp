// Jinja2's builtin tests (defined, none, sameas, divisibleby, eq, lower...) and the test table.
#include <cmath>
#include <unordered_map>

#include "text/jinja/builtins.h"
#include "text/jinja/builtins/common.h"
#include "text/jinja/ops.h"
#include "text/jinja/parser.h"
#include "text/jinja/pystr.h"

namespace lpx::jinja {
namespace builtin {
namespace {

using TestFn = bool (*)(Interpreter&, const Value&, CallArgs&);

const Value& test_arg(const CallArgs& a, const char* name) {
  if (a.args.empty()) {
    for (const auto& kv : a.kwargs) return kv.second;
    raise("TypeError", std::string("test '") + name + "' missing required argument");
  }
  return a.args[0];
}

bool t_defined(Interpreter&, const Value& v, CallArgs&) { return !v.is_undefined(); }
bool t_undefined(Interpreter&, const Value& v, CallArgs&) { return v.is_undefined(); }
bool t_none(Interpreter&, const Value& v, CallArgs&) { return v.is_none(); }
bool t_boolean(Interpreter&, const Value& v, CallArgs&) { return v.is_bool(); }
bool t_false(Interpreter&, const Value& v, CallArgs&) { return v.is_bool() && !v.as_bool(); }
bool t_true(Interpreter&, const Value& v, CallArgs&) { return v.is_bool() && v.as_bool(); }
bool t_integer(Interpreter&, const Value& v, CallArgs&) { return v.is_int(); }
bool t_float(Interpreter&, const Value& v, CallArgs&) { return v.is_float(); }
bool t_number(Interpreter&, const Value& v, CallArgs&) { return v.is_number(); }
bool t_string(Interpreter&, const Value& v, CallArgs&) { return v.is_string(); }
bool t_mapping(Interpreter&, const Value& v, CallArgs&) { return v.is_dict(); }
bool t_iterable(Interpreter&, const Value& v, CallArgs&) {
  if (v.is_object()) return dynamic_cast<LoopContext*>(v.object()) != nullptr;
  return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
}
bool t_sequence(Interpreter&, const Value& v, CallArgs&) {
  if (v.is_list()) {
    ListKind k = v.list()->kind;
    return k == ListKind::kList || k == ListKind::kTuple || k == ListKind::kRange;
  }
  return v.is_undefined() || v.is_string() || v.is_dict();
}
bool t_callable(Interpreter&, const Value& v, CallArgs&) {
  return v.is_undefined() || (v.is_object() && v.object()->callable());  // Undefined defines __call__
}
bool t_escaped(Interpreter&, const Value&, CallArgs&) { return false; }
bool t_sameas(Interpreter&, const Value& v, CallArgs& a) {
  const Value& o = test_arg(a, "sameas");
  if (v.kind() != o.kind()) return false;
  switch (v.kind()) {
    case Kind::kUndefined: return v.undef_info() == o.undef_info();
    case Kind::kNone: return true;
    case Kind::kBool: return v.as_bool() == o.as_bool();
    case Kind::kInt: return v.as_int() == o.as_int() && v.as_int() >= -5 && v.as_int() <= 256;
    case Kind::kFloat: return false;
    case Kind::kString: return v.str_ptr() == o.str_ptr() || (v.str().size() <= 1 && v.str() == o.str());
    case Kind::kList: return v.list() == o.list();
    case Kind::kDict: return v.dict() == o.dict();
    case Kind::kObject: return v.object() == o.object();
  }
  return false;
}
bool t_odd(Interpreter& in, const Value& v, CallArgs&) {
  return equals(binary_op(in, "%", v, Value::integer(2)), Value::integer(1));
}
bool t_even(Interpreter& in, const Value& v, CallArgs&) {
  return equals(binary_op(in, "%", v, Value::integer(2)), Value::integer(0));
}
bool t_divisibleby(Interpreter& in, const Value& v, CallArgs& a) {
  return equals(binary_op(in, "%", v, test_arg(a, "divisibleby")), Value::integer(0));
}
bool t_in(Interpreter& in, const Value& v, CallArgs& a) { return contains(in, test_arg(a, "in"), v); }
bool t_eq(Interpreter&, const Value& v, CallArgs& a) { return equals(v, test_arg(a, "eq")); }
bool t_ne(Interpreter&, const Value& v, CallArgs& a) { return !equals(v, test_arg(a, "ne")); }
bool t_lt(Interpreter&, const Value& v, CallArgs& a) { return order_compare(v, test_arg(a, "lt"), "<") < 0; }
bool t_le(Interpreter&, const Value& v, CallArgs& a) { return order_compare(v, test_arg(a, "le"), "<=") <= 0; }
bool t_gt(Interpreter&, const Value& v, CallArgs& a) { return order_compare(v, test_arg(a, "gt"), ">") > 0; }
bool t_ge(Interpreter&, const Value& v, CallArgs& a) { return order_compare(v, test_arg(a, "ge"), ">=") >= 0; }
bool t_lower(Interpreter& in, const Value& v, CallArgs&) { return pystr::islower(to_str(in, v)); }
bool t_upper(Interpreter& in, const Value& v, CallArgs&) { return pystr::isupper(to_str(in, v)); }
bool t_filter(Interpreter&, const Value& v, CallArgs&) { return v.is_string() && is_known_filter(v.str()); }
bool t_test(Interpreter&, const Value& v, CallArgs&) { return v.is_string() && is_known_test(v.str()); }

const std::unordered_map<std::string, TestFn>& test_table() {
  static const std::unordered_map<std::string, TestFn> kTable = {
      {"defined", t_defined},
      {"undefined", t_undefined},
      {"none", t_none},
      {"boolean", t_boolean},
      {"false", t_false},
      {"true", t_true},
      {"integer", t_integer},
      {"float", t_float},
      {"number", t_number},
      {"string", t_string},
      {"mapping", t_mapping},
      {"iterable", t_iterable},
      {"sequence", t_sequence},
      {"callable", t_callable},
      {"sameas", t_sameas},
      {"escaped", t_escaped},
      {"odd", t_odd},
      {"even", t_even},
      {"divisibleby", t_divisibleby},
      {"in", t_in},
      {"eq", t_eq},
      {"equalto", t_eq},
      {"==", t_eq},
      {"ne", t_ne},
      {"!=", t_ne},
      {"lt", t_lt},
      {"lessthan", t_lt},
      {"<", t_lt},
      {"le", t_le},
      {"<=", t_le},
      {"gt", t_gt},
      {"greaterthan", t_gt},
      {">", t_gt},
      {"ge", t_ge},
      {">=", t_ge},
      {"lower", t_lower},
      {"upper", t_upper},
      {"filter", t_filter},
      {"test", t_test},
  };
  return kTable;
}

}  // namespace
}  // namespace builtin

bool is_known_test(const std::string& name) { return builtin::test_table().count(name) > 0; }

bool apply_test(Interpreter& in, const std::string& name, const Value& input, CallArgs& args) {
  auto it = builtin::test_table().find(name);
  if (it == builtin::test_table().end()) raise("TemplateRuntimeError", "No test named '" + name + "'.");
  return it->second(in, input, args);
}

}  // namespace lpx::jinja
