// Runs a parsed chat template (sdk/src/jinja/template.hpp) with Jinja2's semantics: a for loop's
// every iteration starts from the variables outside it (a set inside does not outlive the
// iteration; namespace() is how templates carry values out), undefined names render as "".
#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <stdexcept>

#include "builtins.hpp"
#include "parser.hpp"
#include "rlhf/error.hpp"
#include "template.hpp"

namespace rlhf::jinja {

namespace {

using std::runtime_error;

enum class Flow { normal, break_, continue_ };

class Renderer {
 public:
  Renderer(const Dict& context, const std::string& origin) : origin_(origin) {
    scopes_.emplace_back();
    for (const auto& [k, v] : context) scopes_.back()[k] = v;
  }

  Flow body(const Body& nodes, std::string& out) {
    for (const Node& n : nodes) {
      const Flow f = guarded(n.line, [&] { return node(n, out); });
      if (f != Flow::normal) return f;
    }
    return Flow::normal;
  }

 private:
  template <class F>
  auto guarded(int line, F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const Error&) {
      throw;
    } catch (const std::runtime_error& e) {
      throw Error(origin_ + " line " + std::to_string(line) + ": " + e.what());
    }
  }

  Flow node(const Node& n, std::string& out) {
    switch (n.kind) {
      case Node::Kind::text:
        out += n.text;
        return Flow::normal;
      case Node::Kind::output:
        out += to_output(eval(*n.expr));
        return Flow::normal;
      case Node::Kind::if_:
        for (const auto& [cond, branch] : n.branches)
          if (!cond || truthy(eval(*cond))) return body(branch, out);
        return Flow::normal;
      case Node::Kind::for_:
        loop(n, out);
        return Flow::normal;
      case Node::Kind::set:
        set(n);
        return Flow::normal;
      case Node::Kind::break_:
        return Flow::break_;
      case Node::Kind::continue_:
        return Flow::continue_;
    }
    return Flow::normal;
  }

  void bind(std::map<std::string, Value>& scope, const std::vector<std::string>& targets,
            const Value& v) {
    if (targets.size() == 1) {
      scope[targets[0]] = v;
      return;
    }
    if (v.kind != Value::Kind::list || v.list->size() != targets.size())
      throw runtime_error("cannot unpack " + kind_name(v) + " into " +
                          std::to_string(targets.size()) + " names");
    for (std::size_t k = 0; k < targets.size(); ++k) scope[targets[k]] = (*v.list)[k];
  }

  void loop(const Node& n, std::string& out) {
    List items = iterate(eval(*n.expr));
    if (n.filter) {
      List kept;
      for (const Value& x : items) {
        scopes_.emplace_back();
        bind(scopes_.back(), n.targets, x);
        const bool keep = truthy(eval(*n.filter));
        scopes_.pop_back();
        if (keep) kept.push_back(x);
      }
      items = std::move(kept);
    }
    const auto size = static_cast<std::int64_t>(items.size());
    for (std::int64_t k = 0; k < size; ++k) {
      const auto at = static_cast<std::size_t>(k);
      Dict info = {{"index0", Value::integer(k)},
                   {"index", Value::integer(k + 1)},
                   {"revindex0", Value::integer(size - k - 1)},
                   {"revindex", Value::integer(size - k)},
                   {"first", Value::boolean(k == 0)},
                   {"last", Value::boolean(k == size - 1)},
                   {"length", Value::integer(size)},
                   {"previtem", k > 0 ? items[at - 1] : Value()},
                   {"nextitem", k + 1 < size ? items[at + 1] : Value()}};
      scopes_.emplace_back();
      scopes_.back()["loop"] = Value::of_dict(std::move(info));
      bind(scopes_.back(), n.targets, items[at]);
      const Flow f = body(n.body, out);
      scopes_.pop_back();
      if (f == Flow::break_) break;
    }
    if (items.empty()) body(n.else_body, out);
  }

  void set(const Node& n) {
    const Value v = eval(*n.expr);
    if (n.attr.empty()) {
      bind(scopes_.back(), n.targets, v);
      return;
    }
    const Value ns = lookup(n.targets[0]);
    if (ns.kind != Value::Kind::ns)
      throw runtime_error("cannot set '" + n.attr + "' on " + kind_name(ns) + " '" + n.targets[0] +
                          "' (only on a namespace())");
    for (auto& [k, x] : *ns.dict)
      if (k == n.attr) {
        x = v;
        return;
      }
    ns.dict->emplace_back(n.attr, v);
  }

  Value lookup(const std::string& name) const {
    for (auto s = scopes_.rbegin(); s != scopes_.rend(); ++s) {
      auto it = s->find(name);
      if (it != s->end()) return it->second;
    }
    return Value();
  }

  Value eval(const Expr& e) {
    return guarded(e.line, [&] { return eval_unguarded(e); });
  }

  std::vector<Value> eval_args(const Expr& e, std::size_t from) {
    std::vector<Value> out;
    for (std::size_t k = from; k < e.args.size(); ++k) out.push_back(eval(*e.args[k]));
    return out;
  }
  Kwargs eval_kwargs(const Expr& e) {
    Kwargs out;
    for (const auto& [k, x] : e.kwargs) out.emplace_back(k, eval(*x));
    return out;
  }

  Value eval_unguarded(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::literal:
        return e.value;
      case Expr::Kind::name:
        return lookup(e.name);
      case Expr::Kind::attr:
        return get_attr(eval(*e.args[0]), e.name);
      case Expr::Kind::item:
        return get_item(eval(*e.args[0]), eval(*e.args[1]));
      case Expr::Kind::slice:
        return slice(e);
      case Expr::Kind::call: {
        const Expr& callee = *e.args[0];
        if (callee.kind == Expr::Kind::attr)
          return call_method(eval(*callee.args[0]), callee.name, eval_args(e, 1));
        return call_global(callee.name, eval_args(e, 1), eval_kwargs(e));
      }
      case Expr::Kind::filter:
        return apply_filter(e.name, eval(*e.args[0]), eval_args(e, 1), eval_kwargs(e));
      case Expr::Kind::test:
        return Value::boolean(apply_test(e.name, eval(*e.args[0]), eval_args(e, 1)) != e.negated);
      case Expr::Kind::unary: {
        const Value v = eval(*e.args[0]);
        if (e.name == "not") return Value::boolean(!truthy(v));
        if (v.kind == Value::Kind::integer) return Value::integer(e.name == "-" ? -v.i : v.i);
        if (v.kind == Value::Kind::floating) return Value::floating(e.name == "-" ? -v.f : v.f);
        throw runtime_error("unary " + e.name + " on " + kind_name(v));
      }
      case Expr::Kind::binary:
        return binary(e);
      case Expr::Kind::cond:
        if (truthy(eval(*e.args[0]))) return eval(*e.args[1]);
        return e.args[2] ? eval(*e.args[2]) : Value();
      case Expr::Kind::list:
        return Value::of_list(eval_args(e, 0));
      case Expr::Kind::dict: {
        Dict d;
        for (std::size_t k = 0; k + 1 < e.args.size(); k += 2) {
          const Value key = eval(*e.args[k]);
          if (key.kind != Value::Kind::string)
            throw runtime_error("dict keys must be strings here, got " + kind_name(key));
          d.emplace_back(key.s, eval(*e.args[k + 1]));
        }
        return Value::of_dict(std::move(d));
      }
    }
    return Value();
  }

  // Python's sequence[start:stop:step] on a list or string.
  Value slice(const Expr& e) {
    const Value v = eval(*e.args[0]);
    if (v.kind != Value::Kind::list && v.kind != Value::Kind::string)
      throw runtime_error("cannot slice " + kind_name(v));
    const std::vector<std::string> chars_of =
        v.kind == Value::Kind::string ? utf8_chars(v.s) : std::vector<std::string>();
    const auto n =
        static_cast<std::int64_t>(v.kind == Value::Kind::list ? v.list->size() : chars_of.size());
    auto part = [&](std::size_t k) -> std::optional<std::int64_t> {
      if (!e.args[k]) return std::nullopt;
      const Value x = eval(*e.args[k]);
      if (x.kind == Value::Kind::none) return std::nullopt;
      if (x.kind != Value::Kind::integer) throw runtime_error("slice indices must be integers");
      return x.i;
    };
    const std::int64_t step = part(3).value_or(1);
    if (step == 0) throw runtime_error("slice step cannot be zero");
    auto clamp = [&](std::optional<std::int64_t> x, std::int64_t fallback) {
      if (!x) return fallback;
      std::int64_t k = *x < 0 ? *x + n : *x;
      if (step > 0) return std::min(std::max<std::int64_t>(k, 0), n);
      return std::min(std::max<std::int64_t>(k, -1), n - 1);
    };
    const std::int64_t start = clamp(part(1), step > 0 ? 0 : n - 1);
    const std::int64_t stop = clamp(part(2), step > 0 ? n : -1);
    List items;
    std::string chars;
    for (std::int64_t k = start; step > 0 ? k < stop : k > stop; k += step) {
      const auto at = static_cast<std::size_t>(k);
      if (v.kind == Value::Kind::list)
        items.push_back((*v.list)[at]);
      else
        chars += chars_of[at];
    }
    return v.kind == Value::Kind::list ? Value::of_list(std::move(items)) : Value::string(chars);
  }

  Value binary(const Expr& e) {
    const std::string& op = e.name;
    const Value a = eval(*e.args[0]);
    if (op == "and") return truthy(a) ? eval(*e.args[1]) : a;
    if (op == "or") return truthy(a) ? a : eval(*e.args[1]);
    const Value b = eval(*e.args[1]);
    using K = Value::Kind;
    if (op == "==") return Value::boolean(equal(a, b));
    if (op == "!=") return Value::boolean(!equal(a, b));
    if (op == "~") return Value::string(to_output(a) + to_output(b));
    if (op == "in" || op == "not in") {
      bool found = false;
      if (b.kind == K::string) {
        if (a.kind != K::string) throw runtime_error("'in <string>' needs a string on the left");
        found = b.s.find(a.s) != std::string::npos;
      } else if (b.kind == K::dict) {
        found = a.kind == K::string && b.find(a.s);
      } else {
        for (const Value& x : iterate(b)) found = found || equal(a, x);
      }
      return Value::boolean(found != (op == "not in"));
    }
    if (op == "<" || op == ">" || op == "<=" || op == ">=") {
      int c;
      if (a.is_number() && b.is_number())
        c = a.number() < b.number() ? -1 : a.number() > b.number() ? 1 : 0;
      else if (a.kind == K::string && b.kind == K::string)
        c = a.s.compare(b.s) < 0 ? -1 : a.s.compare(b.s) > 0 ? 1 : 0;
      else
        throw runtime_error("cannot compare " + kind_name(a) + " and " + kind_name(b));
      return Value::boolean(op == "<" ? c < 0 : op == ">" ? c > 0 : op == "<=" ? c <= 0 : c >= 0);
    }
    if (op == "+") {
      if (a.kind == K::string && b.kind == K::string) return Value::string(a.s + b.s);
      if (a.kind == K::list && b.kind == K::list) {
        List xs = *a.list;
        xs.insert(xs.end(), b.list->begin(), b.list->end());
        return Value::of_list(std::move(xs));
      }
    }
    if (op == "*") {
      if (a.kind == K::string && b.kind == K::integer) {
        std::string s;
        for (std::int64_t k = 0; k < b.i; ++k) s += a.s;
        return Value::string(s);
      }
    }
    if (!a.is_number() || !b.is_number())
      throw runtime_error("unsupported operand types for " + op + ": " + kind_name(a) + " and " +
                          kind_name(b));
    const bool ints = a.kind == K::integer && b.kind == K::integer;
    if (op == "/") {
      if (b.number() == 0) throw runtime_error("division by zero");
      return Value::floating(a.number() / b.number());
    }
    if (ints) {
      const std::int64_t x = a.i, y = b.i;
      if (op == "+") return Value::integer(x + y);
      if (op == "-") return Value::integer(x - y);
      if (op == "*") return Value::integer(x * y);
      if (op == "**" && y >= 0) {
        std::int64_t r = 1;
        for (std::int64_t k = 0; k < y; ++k) r *= x;
        return Value::integer(r);
      }
      if (y == 0 && (op == "//" || op == "%")) throw runtime_error("division by zero");
      // Python's floor division and modulo: the remainder takes the divisor's sign.
      std::int64_t q = x / y, r = x % y;
      if (r != 0 && ((r < 0) != (y < 0))) {
        --q;
        r += y;
      }
      if (op == "//") return Value::integer(q);
      if (op == "%") return Value::integer(r);
    }
    const double x = a.number(), y = b.number();
    if (op == "+") return Value::floating(x + y);
    if (op == "-") return Value::floating(x - y);
    if (op == "*") return Value::floating(x * y);
    if (op == "**") return Value::floating(std::pow(x, y));
    if (y == 0) throw runtime_error("division by zero");
    if (op == "//") return Value::floating(std::floor(x / y));
    if (op == "%") return Value::floating(x - std::floor(x / y) * y);
    throw runtime_error("unsupported operator " + op);
  }

  std::vector<std::map<std::string, Value>> scopes_;
  const std::string& origin_;
};

}  // namespace

Template::Template(const std::string& source, std::string origin)
    : body_(parse_template(source, origin)), origin_(std::move(origin)) {}

std::string Template::render(const Dict& context) const {
  std::string out;
  Renderer(context, origin_).body(body_, out);
  return out;
}

}  // namespace rlhf::jinja
