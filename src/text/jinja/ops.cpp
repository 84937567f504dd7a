// Python operators and string formatting (see ops.h).
#include "text/jinja/ops.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include "text/jinja/interpreter.h"
#include "text/jinja/pystr.h"

namespace lpx::jinja {

namespace {

[[noreturn]] void unsupported_operands(const char* op, const Value& a, const Value& b) {
  raise("TypeError",
        std::string("unsupported operand type(s) for ") + op + ": '" + type_name(a) + "' and '" + type_name(b) + "'");
}

[[noreturn]] void int_overflow() { raise("OverflowError", "integer result too large for this template engine"); }

int64_t checked_add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) int_overflow();
  return r;
}
int64_t checked_sub(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_sub_overflow(a, b, &r)) int_overflow();
  return r;
}
int64_t checked_mul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) int_overflow();
  return r;
}

int64_t floor_div(int64_t a, int64_t b) {
  if (a == std::numeric_limits<int64_t>::min() && b == -1) int_overflow();
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

int64_t py_mod(int64_t a, int64_t b) {
  if (b == -1) return 0;
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

// CPython's float floor division (float_floor_div via divmod).
double py_floordiv(double vx, double wx) {
  double mod = std::fmod(vx, wx);
  double div = (vx - mod) / wx;
  if (mod != 0.0 && ((wx < 0) != (mod < 0))) div -= 1.0;
  if (div != 0.0) {
    double floordiv = std::floor(div);
    if (div - floordiv > 0.5) floordiv += 1.0;
    return floordiv;
  }
  return std::copysign(0.0, vx / wx);
}

double py_fmod(double a, double b) {
  double r = std::fmod(a, b);
  if (r != 0.0) {
    if ((r < 0) != (b < 0)) r += b;
  } else {
    r = std::copysign(0.0, b);
  }
  return r;
}

Value repeat(Interpreter& in, const Value& seq, int64_t n) {
  if (seq.is_string()) {
    if (n <= 0 || seq.str().empty()) return in.str("");
    in.check_string_size(seq.str().size() * static_cast<size_t>(std::min<int64_t>(n, INT32_MAX)));
    std::string out;
    out.reserve(seq.str().size() * static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) out += seq.str();
    return in.str(std::move(out));
  }
  const List* l = seq.list();
  std::vector<Value> items;
  if (n > 0 && !l->items.empty()) {
    in.check_list_size(l->items.size() * static_cast<size_t>(std::min<int64_t>(n, INT32_MAX)));
    for (int64_t i = 0; i < n; ++i) items.insert(items.end(), l->items.begin(), l->items.end());
  }
  return in.new_list(std::move(items), l->kind == ListKind::kTuple ? ListKind::kTuple : ListKind::kList);
}

bool is_seq_list(const Value& v) {
  return v.is_list() && (v.list()->kind == ListKind::kList || v.list()->kind == ListKind::kTuple);
}

Value int_pow(int64_t base, int64_t exp) {
  int64_t result = 1;
  int64_t b = base;
  int64_t e = exp;
  while (e > 0) {
    if (e & 1) result = checked_mul(result, b);
    e >>= 1;
    if (e > 0) {
      if (b > 3037000499LL || b < -3037000499LL) {
        // b*b overflows; only fine if no further multiplication would use it.
        if (result != 0) int_overflow();
      }
      b = b * b;
    }
  }
  return Value::integer(result);
}

}  // namespace

Value binary_op(Interpreter& in, const std::string& op, const Value& a, const Value& b) {
  // str % x is handled by str.__mod__ even for an Undefined right operand.
  if (op == "%" && a.is_string()) return in.str(percent_format(in, a.str(), b));
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  const char o0 = op[0];
  const bool two = op.size() == 2;
  if (a.is_number() && b.is_number()) {
    bool fl = a.is_float() || b.is_float();
    if (o0 == '+')
      return fl ? Value::floating(a.as_float() + b.as_float()) : Value::integer(checked_add(a.as_int(), b.as_int()));
    if (o0 == '-')
      return fl ? Value::floating(a.as_float() - b.as_float()) : Value::integer(checked_sub(a.as_int(), b.as_int()));
    if (o0 == '*' && !two) {
      return fl ? Value::floating(a.as_float() * b.as_float()) : Value::integer(checked_mul(a.as_int(), b.as_int()));
    }
    if (o0 == '/' && !two) {
      if (b.as_float() == 0.0) raise("ZeroDivisionError", fl ? "float division by zero" : "division by zero");
      return Value::floating(a.as_float() / b.as_float());
    }
    if (o0 == '/' && two) {
      if (fl) {
        if (b.as_float() == 0.0) raise("ZeroDivisionError", "float floor division by zero");
        return Value::floating(py_floordiv(a.as_float(), b.as_float()));
      }
      if (b.as_int() == 0) raise("ZeroDivisionError", "integer division or modulo by zero");
      return Value::integer(floor_div(a.as_int(), b.as_int()));
    }
    if (o0 == '%') {
      if (fl) {
        if (b.as_float() == 0.0) raise("ZeroDivisionError", "float modulo");
        return Value::floating(py_fmod(a.as_float(), b.as_float()));
      }
      if (b.as_int() == 0) raise("ZeroDivisionError", "integer modulo by zero");
      return Value::integer(py_mod(a.as_int(), b.as_int()));
    }
    if (op == "**") {
      if (!fl && b.as_int() >= 0) return int_pow(a.as_int(), b.as_int());
      if (a.as_float() == 0.0 && b.as_float() < 0) {
        raise("ZeroDivisionError", "0.0 cannot be raised to a negative power");
      }
      double r = std::pow(a.as_float(), b.as_float());
      if (std::isinf(r) && std::isfinite(a.as_float()) && std::isfinite(b.as_float())) {
        raise("OverflowError", "(34, 'Numerical result out of range')");
      }
      return Value::floating(r);
    }
  }
  if (o0 == '+') {
    if (a.is_string() && b.is_string()) {
      in.check_string_size(a.str().size() + b.str().size());
      return in.str(a.str() + b.str());
    }
    if (is_seq_list(a) && is_seq_list(b) && a.list()->kind == b.list()->kind) {
      std::vector<Value> items = a.list()->items;
      in.check_list_size(items.size() + b.list()->items.size());
      items.insert(items.end(), b.list()->items.begin(), b.list()->items.end());
      return in.new_list(std::move(items), a.list()->kind);
    }
    if (a.is_string() || is_seq_list(a)) {
      std::string t = type_name(a);
      raise("TypeError", "can only concatenate " + t + " (not \"" + type_name(b) + "\") to " + t);
    }
    unsupported_operands("+", a, b);
  }
  if (o0 == '*' && !two) {
    if ((a.is_string() || is_seq_list(a)) && b.is_integral()) return repeat(in, a, b.as_int());
    if ((b.is_string() || is_seq_list(b)) && a.is_integral()) return repeat(in, b, a.as_int());
    if (a.is_string() || is_seq_list(a)) {
      raise("TypeError", "can't multiply sequence by non-int of type '" + type_name(b) + "'");
    }
    if (b.is_string() || is_seq_list(b)) {
      raise("TypeError", "can't multiply sequence by non-int of type '" + type_name(a) + "'");
    }
    unsupported_operands("*", a, b);
  }
  if (o0 == '%' && a.is_string()) return in.str(percent_format(in, a.str(), b));
  unsupported_operands(op == "**" ? "** or pow()" : op.c_str(), a, b);
}

Value unary_minus(const Value& v) {
  if (v.is_undefined()) fail_undefined(v);
  if (v.is_float()) return Value::floating(-v.as_float());
  if (v.is_integral()) return Value::integer(checked_sub(0, v.as_int()));
  raise("TypeError", "bad operand type for unary -: '" + type_name(v) + "'");
}

Value unary_plus(const Value& v) {
  if (v.is_undefined()) fail_undefined(v);
  if (v.is_float()) return v;
  if (v.is_integral()) return Value::integer(v.as_int());
  raise("TypeError", "bad operand type for unary +: '" + type_name(v) + "'");
}

bool contains(Interpreter& in, const Value& container, const Value& item) {
  switch (container.kind()) {
    case Kind::kUndefined: return false;
    case Kind::kString:
      if (!item.is_string()) {
        raise("TypeError", "'in <string>' requires string as left operand, not " + type_name(item));
      }
      return container.str().find(item.str()) != std::string::npos;
    case Kind::kDict: return container.dict()->find(item) != nullptr;
    case Kind::kList: {
      if (container.list()->kind == ListKind::kGenerator) {
        for (const Value& v : in.iterate(container)) {
          if (equals(v, item)) return true;
        }
        return false;
      }
      for (const Value& v : container.list()->items) {
        if (equals(v, item)) return true;
      }
      return false;
    }
    default: raise("TypeError", "argument of type '" + type_name(container) + "' is not iterable");
  }
}

// ---------------------------------------------------------------------------------------------
// Format specs

namespace {

struct Spec {
  char32_t fill = ' ';
  char align = 0;
  char sign = 0;
  bool alt = false;
  bool zero = false;
  int width = -1;
  char grouping = 0;
  int precision = -1;
  char type = 0;
};

Spec parse_spec(std::string_view spec_utf8) {
  std::u32string s = pystr::decode(spec_utf8);
  Spec sp;
  size_t i = 0;
  auto is_align = [](char32_t c) { return c == '<' || c == '>' || c == '=' || c == '^'; };
  if (s.size() >= 2 && is_align(s[1])) {
    sp.fill = s[0];
    sp.align = static_cast<char>(s[1]);
    i = 2;
  } else if (!s.empty() && is_align(s[0])) {
    sp.align = static_cast<char>(s[0]);
    i = 1;
  }
  if (i < s.size() && (s[i] == '+' || s[i] == '-' || s[i] == ' ')) sp.sign = static_cast<char>(s[i++]);
  if (i < s.size() && s[i] == '#') {
    sp.alt = true;
    ++i;
  }
  if (i < s.size() && s[i] == '0') {
    sp.zero = true;
    ++i;
  }
  auto read_int = [&](int* out) {
    bool any = false;
    int64_t v = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      v = v * 10 + (s[i] - '0');
      if (v > 100000) raise("ValueError", "Too many decimal digits in format string");
      ++i;
      any = true;
    }
    if (any) *out = static_cast<int>(v);
    return any;
  };
  read_int(&sp.width);
  if (i < s.size() && (s[i] == ',' || s[i] == '_')) sp.grouping = static_cast<char>(s[i++]);
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!read_int(&sp.precision)) raise("ValueError", "Format specifier missing precision");
  }
  if (i < s.size()) sp.type = static_cast<char>(s[i++]);
  if (i < s.size()) raise("ValueError", "Invalid format specifier");
  if (sp.zero && sp.align == 0) {
    sp.fill = '0';
    sp.align = '=';
  }
  return sp;
}

std::string pad(std::string_view sign_prefix, std::string_view body, const Spec& sp, char default_align) {
  size_t len = pystr::length(sign_prefix) + pystr::length(body);
  char align = sp.align ? sp.align : default_align;
  if (sp.width < 0 || len >= static_cast<size_t>(sp.width)) return std::string(sign_prefix) + std::string(body);
  size_t total = static_cast<size_t>(sp.width) - len;
  std::string fill;
  pystr::append_utf8(fill, sp.fill);
  auto fills = [&](size_t n) {
    std::string r;
    for (size_t k = 0; k < n; ++k) r += fill;
    return r;
  };
  switch (align) {
    case '<': return std::string(sign_prefix) + std::string(body) + fills(total);
    case '^': return fills(total / 2) + std::string(sign_prefix) + std::string(body) + fills(total - total / 2);
    case '=': return std::string(sign_prefix) + fills(total) + std::string(body);
    default: return fills(total) + std::string(sign_prefix) + std::string(body);
  }
}

std::string group_digits(const std::string& digits, char sep, int every) {
  if (sep == 0) return digits;
  std::string out;
  int n = static_cast<int>(digits.size());
  for (int i = 0; i < n; ++i) {
    out.push_back(digits[i]);
    int remaining = n - i - 1;
    if (remaining > 0 && remaining % every == 0) out.push_back(sep);
  }
  return out;
}

std::string sign_str(bool negative, char sign) {
  if (negative) return "-";
  if (sign == '+') return "+";
  if (sign == ' ') return " ";
  return "";
}

std::string format_int(int64_t v, const Spec& sp) {
  bool neg = v < 0;
  uint64_t mag = neg ? (0 - static_cast<uint64_t>(v)) : static_cast<uint64_t>(v);
  std::string digits, prefix;
  char t = sp.type ? sp.type : 'd';
  switch (t) {
    case 'd':
    case 'n': digits = std::to_string(mag); break;
    case 'b':
      if (mag == 0) digits = "0";
      while (mag > 0) {
        digits.insert(digits.begin(), static_cast<char>('0' + (mag & 1)));
        mag >>= 1;
      }
      if (sp.alt) prefix = "0b";
      break;
    case 'o': {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%llo", static_cast<unsigned long long>(mag));
      digits = buf;
      if (sp.alt) prefix = "0o";
      break;
    }
    case 'x':
    case 'X': {
      char buf[32];
      std::snprintf(buf, sizeof(buf), t == 'x' ? "%llx" : "%llX", static_cast<unsigned long long>(mag));
      digits = buf;
      if (sp.alt) prefix = t == 'x' ? "0x" : "0X";
      break;
    }
    case 'c': {
      std::string out;
      pystr::append_utf8(out, static_cast<char32_t>(v));
      return pad("", out, sp, '<');
    }
    default: raise("ValueError", std::string("Unknown format code '") + t + "' for object of type 'int'");
  }
  int every = (t == 'd' || t == 'n') ? 3 : 4;
  digits = group_digits(digits, sp.grouping, every);
  return pad(sign_str(neg, sp.sign) + prefix, digits, sp, '>');
}

std::string format_double(double v, const Spec& sp) {
  char t = sp.type;
  bool neg = std::signbit(v) && !std::isnan(v);
  double mag = std::fabs(v);
  std::string body;
  if (t == '%') {
    body = pystr::format_float(mag * 100.0, 'f', sp.precision < 0 ? 6 : sp.precision, sp.alt) + "%";
  } else if (t == 0) {
    if (sp.precision < 0) {
      body = pystr::float_repr(mag);
    } else {
      body = pystr::format_float(mag, 'g', sp.precision == 0 ? 1 : sp.precision, sp.alt);
      if (std::isfinite(mag) && body.find_first_of(".e") == std::string::npos) body += ".0";
    }
  } else if (t == 'e' || t == 'E' || t == 'f' || t == 'F' || t == 'g' || t == 'G' || t == 'n') {
    body = pystr::format_float(mag, t == 'n' ? 'g' : t, sp.precision < 0 ? 6 : sp.precision, sp.alt);
  } else {
    raise("ValueError", std::string("Unknown format code '") + t + "' for object of type 'float'");
  }
  if (sp.grouping != 0 && std::isfinite(mag)) {
    size_t end = body.find_first_of(".eE%");
    if (end == std::string::npos) end = body.size();
    body = group_digits(body.substr(0, end), sp.grouping, 3) + body.substr(end);
  }
  return pad(sign_str(neg, sp.sign), body, sp, '>');
}

}  // namespace

std::string format_value(Interpreter& in, const Value& v, std::string_view spec) {
  if (spec.empty()) return to_str(in, v);
  Spec sp = parse_spec(spec);
  if (v.is_string() || v.is_undefined()) {
    if (sp.type != 0 && sp.type != 's') {
      raise("ValueError", std::string("Unknown format code '") + sp.type + "' for object of type 'str'");
    }
    if (sp.sign != 0) raise("ValueError", "Sign not allowed in string format specifier");
    if (sp.align == '=') raise("ValueError", "'=' alignment not allowed in string format specifier");
    std::string s = to_str(in, v);
    if (sp.precision >= 0) {
      std::u32string u = pystr::decode(s);
      if (u.size() > static_cast<size_t>(sp.precision)) s = pystr::encode(u.substr(0, sp.precision));
    }
    return pad("", s, sp, '<');
  }
  if (v.is_integral()) {
    char t = sp.type;
    if (t == 'e' || t == 'E' || t == 'f' || t == 'F' || t == 'g' || t == 'G' || t == '%') {
      return format_double(static_cast<double>(v.as_int()), sp);
    }
    return format_int(v.as_int(), sp);
  }
  if (v.is_float()) return format_double(v.as_float(), sp);
  raise("TypeError", "unsupported format string passed to " + type_name(v) + ".__format__");
}

// ---------------------------------------------------------------------------------------------
// str.format

namespace {

Value resolve_field(Interpreter& in, std::string_view field, const CallArgs& args, int* auto_index, int* mode) {
  // mode: 0 unknown, 1 automatic, 2 manual
  size_t i = 0;
  while (i < field.size() && field[i] != '.' && field[i] != '[') ++i;
  std::string_view head = field.substr(0, i);
  Value v;
  if (head.empty()) {
    if (*mode == 2) raise("ValueError", "cannot switch from manual field specification to automatic field numbering");
    *mode = 1;
    int idx = (*auto_index)++;
    if (idx >= static_cast<int>(args.args.size())) {
      raise("IndexError", "tuple index out of range");
    }
    v = args.args[static_cast<size_t>(idx)];
  } else if (head.find_first_not_of("0123456789") == std::string_view::npos) {
    if (*mode == 1) raise("ValueError", "cannot switch from automatic field numbering to manual field specification");
    *mode = 2;
    size_t idx = static_cast<size_t>(std::stoll(std::string(head)));
    if (idx >= args.args.size()) raise("IndexError", "tuple index out of range");
    v = args.args[idx];
  } else {
    bool found = false;
    for (const auto& kv : args.kwargs) {
      if (kv.first == head) {
        v = kv.second;
        found = true;
        break;
      }
    }
    if (!found) raise("KeyError", pystr::repr(head));
  }
  while (i < field.size()) {
    if (field[i] == '.') {
      size_t j = i + 1;
      while (j < field.size() && field[j] != '.' && field[j] != '[') ++j;
      std::string name(field.substr(i + 1, j - i - 1));
      if (!name.empty() && name[0] == '_') raise("SecurityError", "access to attribute '" + name + "' is unsafe.");
      v = in.getattr(v, name);
      i = j;
    } else {
      size_t j = field.find(']', i);
      if (j == std::string_view::npos) raise("ValueError", "Missing ']' in format string");
      std::string key(field.substr(i + 1, j - i - 1));
      if (!key.empty() && key.find_first_not_of("0123456789") == std::string::npos) {
        v = in.getitem(v, Value::integer(std::stoll(key)));
      } else {
        v = in.getitem(v, Value::string(key));
      }
      i = j + 1;
    }
  }
  return v;
}

}  // namespace

std::string str_format(Interpreter& in, std::string_view fmt, const CallArgs& args) {
  std::string out;
  int auto_index = 0;
  int mode = 0;
  size_t i = 0;
  while (i < fmt.size()) {
    char c = fmt[i];
    if (c == '{') {
      if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
        out.push_back('{');
        i += 2;
        continue;
      }
      // Find the matching '}' allowing one level of nested fields in the spec.
      size_t j = i + 1;
      int nest = 1;
      while (j < fmt.size() && nest > 0) {
        if (fmt[j] == '{') ++nest;
        if (fmt[j] == '}') --nest;
        if (nest > 0) ++j;
      }
      if (j >= fmt.size()) raise("ValueError", "expected '}' before end of string");
      std::string_view inner = fmt.substr(i + 1, j - i - 1);
      size_t conv_pos = std::string_view::npos, spec_pos = std::string_view::npos;
      int bracket = 0;
      for (size_t k = 0; k < inner.size(); ++k) {
        if (inner[k] == '[') ++bracket;
        if (inner[k] == ']') --bracket;
        if (bracket == 0 && inner[k] == '!' && conv_pos == std::string_view::npos) conv_pos = k;
        if (bracket == 0 && inner[k] == ':') {
          spec_pos = k;
          break;
        }
      }
      size_t field_end = std::min(conv_pos, spec_pos);
      std::string_view field = inner.substr(0, std::min(field_end, inner.size()));
      char conv = 0;
      if (conv_pos != std::string_view::npos && conv_pos < spec_pos) {
        if (conv_pos + 1 >= inner.size()) raise("ValueError", "end of string while looking for conversion specifier");
        conv = inner[conv_pos + 1];
      }
      std::string spec;
      if (spec_pos != std::string_view::npos) {
        std::string_view raw_spec = inner.substr(spec_pos + 1);
        if (raw_spec.find('{') != std::string_view::npos) {
          spec = str_format(in, raw_spec, args);  // nested replacement fields
        } else {
          spec = std::string(raw_spec);
        }
      }
      Value v = resolve_field(in, field, args, &auto_index, &mode);
      if (conv == 'r' || conv == 'a') {
        v = Value::string(repr(in, v));
      } else if (conv == 's') {
        v = Value::string(to_str(in, v));
      } else if (conv != 0) {
        raise("ValueError", std::string("Unknown conversion specifier ") + conv);
      }
      out += format_value(in, v, spec);
      in.check_string_size(out.size());
      i = j + 1;
    } else if (c == '}') {
      if (i + 1 < fmt.size() && fmt[i + 1] == '}') {
        out.push_back('}');
        i += 2;
        continue;
      }
      raise("ValueError", "Single '}' encountered in format string");
    } else {
      out.push_back(c);
      ++i;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// printf-style formatting

std::string percent_format(Interpreter& in, std::string_view fmt, const Value& args) {
  std::vector<Value> positional;
  const Dict* mapping = nullptr;
  bool single = false;
  // CPython treats any non-tuple, non-str argument with __getitem__ (dict, list, range) as a mapping:
  // it may be left unused without "not all arguments converted".
  bool mapping_like = false;
  if (args.is_list() && args.list()->kind == ListKind::kTuple) {
    positional = args.list()->items;
  } else {
    positional.push_back(args);
    single = true;
    if (args.is_dict()) mapping = args.dict();
    mapping_like =
        args.is_dict() || args.is_undefined() || (args.is_list() && args.list()->kind != ListKind::kGenerator);
  }
  size_t argi = 0;
  bool used_mapping = false;
  auto next_arg = [&]() -> Value {
    if (argi >= positional.size()) raise("TypeError", "not enough arguments for format string");
    return positional[argi++];
  };
  std::string out;
  size_t i = 0;
  while (i < fmt.size()) {
    char c = fmt[i];
    if (c != '%') {
      out.push_back(c);
      ++i;
      continue;
    }
    size_t start = i;
    ++i;
    if (i >= fmt.size()) raise("ValueError", "incomplete format");
    Value key_value;
    bool has_key = false;
    if (fmt[i] == '(') {
      size_t close = fmt.find(')', i);
      if (close == std::string_view::npos) raise("ValueError", "incomplete format key");
      if (mapping == nullptr && mapping_like) raise("TypeError", "list indices must be integers or slices, not str");
      if (mapping == nullptr) raise("TypeError", "format requires a mapping");
      std::string key(fmt.substr(i + 1, close - i - 1));
      const Value* found = mapping->find_str(key);
      if (found == nullptr) raise("KeyError", "'" + key + "'");
      key_value = *found;
      has_key = true;
      used_mapping = true;
      i = close + 1;
    }
    Spec sp;
    bool left = false, zero = false;
    while (i < fmt.size() && (fmt[i] == '-' || fmt[i] == '+' || fmt[i] == ' ' || fmt[i] == '#' || fmt[i] == '0')) {
      switch (fmt[i]) {
        case '-': left = true; break;
        case '+': sp.sign = '+'; break;
        case ' ':
          if (sp.sign != '+') sp.sign = ' ';
          break;
        case '#': sp.alt = true; break;
        case '0': zero = true; break;
      }
      ++i;
    }
    if (i < fmt.size() && fmt[i] == '*') {
      Value w = next_arg();
      if (!w.is_integral()) raise("TypeError", "* wants int");
      sp.width = static_cast<int>(w.as_int());
      if (sp.width < 0) {
        left = true;
        sp.width = -sp.width;
      }
      ++i;
    } else {
      int w = 0;
      bool any = false;
      while (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9') {
        w = w * 10 + (fmt[i++] - '0');
        any = true;
        if (w > 100000) raise("ValueError", "width too big");
      }
      if (any) sp.width = w;
    }
    if (i < fmt.size() && fmt[i] == '.') {
      ++i;
      if (i < fmt.size() && fmt[i] == '*') {
        Value p = next_arg();
        if (!p.is_integral()) raise("TypeError", "* wants int");
        sp.precision = static_cast<int>(std::max<int64_t>(0, p.as_int()));
        ++i;
      } else {
        int p = 0;
        while (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9') {
          p = p * 10 + (fmt[i++] - '0');
          if (p > 100000) raise("ValueError", "precision too big");
        }
        sp.precision = p;
      }
    }
    while (i < fmt.size() && (fmt[i] == 'h' || fmt[i] == 'l' || fmt[i] == 'L')) ++i;
    if (i >= fmt.size()) raise("ValueError", "incomplete format");
    char t = fmt[i++];
    if (t == '%') {
      out.push_back('%');
      continue;
    }
    Value v = has_key ? key_value : next_arg();
    if (left) {
      sp.align = '<';
    } else if (zero && t != 's' && t != 'r' && t != 'a' && t != 'c') {
      sp.align = '=';
      sp.fill = '0';
    } else {
      sp.align = '>';
    }
    std::string piece;
    switch (t) {
      case 's':
      case 'r':
      case 'a': {
        std::string s = t == 's' ? to_str(in, v) : repr(in, v);
        if (sp.precision >= 0) {
          std::u32string u = pystr::decode(s);
          if (u.size() > static_cast<size_t>(sp.precision)) s = pystr::encode(u.substr(0, sp.precision));
        }
        piece = pad("", s, sp, '>');
        break;
      }
      case 'd':
      case 'i':
      case 'u': {
        if (!v.is_number())
          raise("TypeError", "%" + std::string(1, t) + " format: a real number is required, not " + type_name(v));
        int64_t n = v.is_float() ? static_cast<int64_t>(std::trunc(v.as_float())) : v.as_int();
        Spec isp = sp;
        isp.type = 'd';
        isp.precision = -1;
        piece = format_int(n, isp);
        break;
      }
      case 'x':
      case 'X':
      case 'o': {
        if (!v.is_integral())
          raise("TypeError", "%" + std::string(1, t) + " format: an integer is required, not " + type_name(v));
        Spec isp = sp;
        isp.type = t;
        isp.precision = -1;
        piece = format_int(v.as_int(), isp);
        break;
      }
      case 'e':
      case 'E':
      case 'f':
      case 'F':
      case 'g':
      case 'G': {
        if (!v.is_number()) raise("TypeError", "must be real number, not " + type_name(v));
        Spec fsp = sp;
        fsp.type = t;
        if (fsp.precision < 0) fsp.precision = 6;
        piece = format_double(v.as_float(), fsp);
        break;
      }
      case 'c': {
        std::string s;
        if (v.is_integral()) {
          pystr::append_utf8(s, static_cast<char32_t>(v.as_int()));
        } else if (v.is_string() && pystr::length(v.str()) == 1) {
          s = v.str();
        } else {
          raise("TypeError", "%c requires int or char");
        }
        piece = pad("", s, sp, '>');
        break;
      }
      default: {
        char buf[96];
        std::snprintf(buf, sizeof(buf), "unsupported format character '%c' (0x%x) at index %zu", t,
                      static_cast<unsigned>(static_cast<unsigned char>(t)), i - 1);
        (void)start;
        raise("ValueError", buf);
      }
    }
    out += piece;
    in.check_string_size(out.size());
  }
  if (!mapping_like && argi < positional.size()) {
    raise("TypeError", "not all arguments converted during string formatting");
  }
  (void)used_mapping;
  (void)single;
  return out;
}

}  // namespace lpx::jinja
