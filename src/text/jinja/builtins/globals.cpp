// Jinja2's global functions: range, dict, namespace, joiner, cycler, raise_exception, strftime_now
// (lipsum is refused).
#include <ctime>
#include <unordered_map>

#include "text/jinja/builtins.h"
#include "text/jinja/builtins/common.h"
#include "text/jinja/ops.h"

namespace lpx::jinja {
namespace builtin {
namespace {

class Cycler : public Object {
 public:
  explicit Cycler(std::vector<Value> items) : items_(std::move(items)) {}
  const char* type_name() const override { return "Cycler"; }
  std::string object_type_repr() const override { return "jinja2.utils.Cycler object"; }
  std::string repr(Interpreter&) const override { return "<Cycler>"; }
  bool get_attr(Interpreter& in, const std::string& name, Value* out) override {
    Cycler* self = this;
    if (name == "current") {
      *out = items_[pos_];
    } else if (name == "next") {
      *out = Value::object(in.heap().make<NativeFunction>("next", [self](Interpreter&, CallArgs&) {
        Value v = self->items_[self->pos_];
        self->pos_ = (self->pos_ + 1) % self->items_.size();
        return v;
      }));
    } else if (name == "reset") {
      *out = Value::object(in.heap().make<NativeFunction>("reset", [self](Interpreter&, CallArgs&) {
        self->pos_ = 0;
        return Value::none();
      }));
    } else {
      return false;
    }
    return true;
  }

 private:
  std::vector<Value> items_;
  size_t pos_ = 0;
};

Value g_range(Interpreter& in, CallArgs& a) {
  if (!a.kwargs.empty()) raise("TypeError", "range() takes no keyword arguments");
  if (a.args.empty() || a.args.size() > 3) {
    raise("TypeError", "range expected at most 3 arguments, got " + std::to_string(a.args.size()));
  }
  for (const Value& v : a.args) {
    if (!v.is_integral()) raise("TypeError", "'" + type_name(v) + "' object cannot be interpreted as an integer");
  }
  int64_t start = 0, stop, step = 1;
  if (a.args.size() == 1) {
    stop = a.args[0].as_int();
  } else {
    start = a.args[0].as_int();
    stop = a.args[1].as_int();
    if (a.args.size() == 3) step = a.args[2].as_int();
  }
  if (step == 0) raise("ValueError", "range() arg 3 must not be zero");
  long double span = static_cast<long double>(stop) - static_cast<long double>(start);
  int64_t len = 0;
  if ((step > 0 && span > 0) || (step < 0 && span < 0)) {
    len = static_cast<int64_t>((std::fabs(static_cast<double>(span)) - 1) / std::fabs(static_cast<double>(step))) + 1;
  }
  if (in.options().immutable_sandbox && len > 100000) {
    raise("OverflowError", "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  }
  if (static_cast<uint64_t>(len) > in.options().limits.max_loop_iterations) {
    raise("ResourceExhausted", "range() too large for the loop iteration limit");
  }
  std::vector<Value> items;
  items.reserve(static_cast<size_t>(len));
  for (int64_t i = 0, x = start; i < len; ++i, x += step) items.push_back(Value::integer(x));
  Value r = in.new_list(std::move(items), ListKind::kRange);
  r.list()->range_start = start;
  r.list()->range_stop = stop;
  r.list()->range_step = step;
  return r;
}

Value g_dict(Interpreter& in, CallArgs& a) {
  Dict* d = in.heap().new_dict();
  fill_dict(in, d, a, "dict");
  return Value::dict(d);
}

Value g_namespace(Interpreter& in, CallArgs& a) {
  Dict* d = in.heap().new_dict();
  fill_dict(in, d, a, "namespace");
  return Value::object(in.heap().make<NamespaceObject>(d));
}

Value g_joiner(Interpreter& in, CallArgs& a) {
  Params p(a, "joiner", {"sep"});
  std::string sep = p.has(0) ? to_str(in, p.get(0)) : ", ";
  auto used = std::make_shared<bool>(false);
  return Value::object(in.heap().make<NativeFunction>("joiner", [sep, used](Interpreter& inner, CallArgs&) {
    if (!*used) {
      *used = true;
      return inner.str("");
    }
    return inner.str(sep);
  }));
}

Value g_cycler(Interpreter& in, CallArgs& a) {
  if (a.args.empty()) raise("RuntimeError", "at least one item has to be provided");
  return Value::object(in.heap().make<Cycler>(a.args));
}

Value g_raise_exception(Interpreter& in, CallArgs& a) {
  Params p(a, "raise_exception", {"message"});
  p.require(0);
  raise("TemplateError", to_str(in, p.get(0)));
}

Value g_strftime_now(Interpreter& in, CallArgs& a) {
  Params p(a, "strftime_now", {"format"});
  p.require(0);
  std::string fmt = need_str(p.get(0), "strftime() argument 1");
  std::time_t t =
      in.options().now_unix_seconds ? static_cast<std::time_t>(*in.options().now_unix_seconds) : std::time(nullptr);
  std::tm tm{};
  if (in.options().utc) {
    gmtime_r(&t, &tm);
  } else {
    localtime_r(&t, &tm);
  }
  if (fmt.empty()) return in.str("");
  // strftime returns 0 both for "too small" and for an empty result; grow a few times.
  for (size_t cap = 256; cap <= (1u << 20); cap *= 4) {
    std::string buf(cap, '\0');
    size_t n = std::strftime(buf.data(), buf.size(), fmt.c_str(), &tm);
    if (n > 0) {
      buf.resize(n);
      return in.str(std::move(buf));
    }
  }
  return in.str("");
}

Value g_lipsum(Interpreter&, CallArgs&) { unsupported("lipsum()"); }

}  // namespace
}  // namespace builtin

bool make_global(Interpreter& in, const std::string& name, Value* out) {
  using Fn = Value (*)(Interpreter&, CallArgs&);
  static const std::unordered_map<std::string, Fn> kGlobals = {
      {"range", builtin::g_range},
      {"dict", builtin::g_dict},
      {"namespace", builtin::g_namespace},
      {"joiner", builtin::g_joiner},
      {"cycler", builtin::g_cycler},
      {"raise_exception", builtin::g_raise_exception},
      {"strftime_now", builtin::g_strftime_now},
      {"lipsum", builtin::g_lipsum},
  };
  auto it = kGlobals.find(name);
  if (it == kGlobals.end()) return false;
  Fn fn = it->second;
  *out = Value::object(
      in.heap().make<NativeFunction>(name, [fn](Interpreter& inner, CallArgs& a) { return fn(inner, a); }));
  return true;
}

}  // namespace lpx::jinja
