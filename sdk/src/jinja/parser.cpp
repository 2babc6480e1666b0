// Jinja2's grammar for the subset chat templates use (sdk/src/jinja/parser.hpp). Operator
// precedence follows jinja2/parser.py: if-else < or < and < not < comparisons < + - < ~ < * / // %
// < ** < unary minus < postfix (. [] ()) and filters/tests.
#include "parser.hpp"

#include <set>

#include "builtins.hpp"
#include "lexer.hpp"
#include "rlhf/error.hpp"

namespace rlhf::jinja {

namespace {

class ExprParser {
 public:
  ExprParser(std::vector<Token> tokens, const std::string& origin)
      : t_(std::move(tokens)), origin_(origin) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(origin_ + " line " + std::to_string(peek().line) + ": " + what);
  }
  const Token& peek(std::size_t ahead = 0) const { return t_[std::min(k_ + ahead, t_.size() - 1)]; }
  bool at_op(const char* op, std::size_t ahead = 0) const {
    return peek(ahead).kind == Token::Kind::op && peek(ahead).text == op;
  }
  bool at_name(const char* name, std::size_t ahead = 0) const {
    return peek(ahead).kind == Token::Kind::name && peek(ahead).text == name;
  }
  bool at_end() const { return peek().kind == Token::Kind::end; }
  bool skip_op(const char* op) {
    if (!at_op(op)) return false;
    ++k_;
    return true;
  }
  bool skip_name(const char* name) {
    if (!at_name(name)) return false;
    ++k_;
    return true;
  }
  void expect_op(const char* op) {
    if (!skip_op(op)) fail(std::string("expected '") + op + "', found '" + describe(peek()) + "'");
  }
  std::string expect_name() {
    if (peek().kind != Token::Kind::name) fail("expected a name, found '" + describe(peek()) + "'");
    return t_[k_++].text;
  }
  void expect_end() {
    if (!at_end()) fail("unexpected '" + describe(peek()) + "'");
  }
  static std::string describe(const Token& t) {
    return t.kind == Token::Kind::end ? "end of tag" : t.text;
  }

  ExprPtr expression() {  // condexpr
    ExprPtr e = or_expr();
    while (at_name("if")) {
      const int line = peek().line;
      ++k_;
      ExprPtr cond = or_expr();
      ExprPtr other = skip_name("else") ? expression() : nullptr;
      e = node(Expr::Kind::cond, line, "", {cond, e, other});
    }
    return e;
  }

  // A comma-separated list without brackets ("a, b" in set and for) is a tuple.
  ExprPtr tuple_or_expression() {
    const int line = peek().line;
    ExprPtr first = expression();
    if (!at_op(",")) return first;
    std::vector<ExprPtr> items{first};
    while (skip_op(",") && !at_end()) items.push_back(expression());
    return node(Expr::Kind::list, line, "", items);
  }

  ExprPtr or_expr() {
    ExprPtr e = and_expr();
    while (at_name("or")) {
      const int line = t_[k_++].line;
      e = node(Expr::Kind::binary, line, "or", {e, and_expr()});
    }
    return e;
  }
  ExprPtr and_expr() {
    ExprPtr e = not_expr();
    while (at_name("and")) {
      const int line = t_[k_++].line;
      e = node(Expr::Kind::binary, line, "and", {e, not_expr()});
    }
    return e;
  }
  ExprPtr not_expr() {
    if (at_name("not")) {
      const int line = t_[k_++].line;
      return node(Expr::Kind::unary, line, "not", {not_expr()});
    }
    return compare();
  }
  ExprPtr compare() {
    ExprPtr e = math1();
    for (;;) {
      const int line = peek().line;
      std::string op;
      for (const char* o : {"==", "!=", "<", ">", "<=", ">="})
        if (at_op(o)) op = o;
      if (!op.empty()) {
        ++k_;
      } else if (at_name("in")) {
        ++k_;
        op = "in";
      } else if (at_name("not") && at_name("in", 1)) {
        k_ += 2;
        op = "not in";
      } else {
        return e;
      }
      e = node(Expr::Kind::binary, line, op, {e, math1()});
    }
  }
  ExprPtr math1() {
    ExprPtr e = concat();
    while (at_op("+") || at_op("-")) {
      const Token& op = t_[k_++];
      e = node(Expr::Kind::binary, op.line, op.text, {e, concat()});
    }
    return e;
  }
  ExprPtr concat() {
    ExprPtr e = math2();
    while (at_op("~")) {
      const int line = t_[k_++].line;
      e = node(Expr::Kind::binary, line, "~", {e, math2()});
    }
    return e;
  }
  ExprPtr math2() {
    ExprPtr e = pow();
    while (at_op("*") || at_op("/") || at_op("//") || at_op("%")) {
      const Token& op = t_[k_++];
      e = node(Expr::Kind::binary, op.line, op.text, {e, pow()});
    }
    return e;
  }
  ExprPtr pow() {
    ExprPtr e = unary(true);
    while (at_op("**")) {
      const int line = t_[k_++].line;
      e = node(Expr::Kind::binary, line, "**", {e, unary(true)});
    }
    return e;
  }
  ExprPtr unary(bool with_filter) {
    ExprPtr e;
    if (at_op("-") || at_op("+")) {
      const Token& op = t_[k_++];
      e = node(Expr::Kind::unary, op.line, op.text, {unary(false)});
    } else {
      e = primary();
    }
    e = postfix(e);
    return with_filter ? filters(e) : e;
  }

  ExprPtr primary() {
    const Token& t = peek();
    switch (t.kind) {
      case Token::Kind::name: {
        ++k_;
        if (t.text == "true" || t.text == "True") return literal(Value::boolean(true), t.line);
        if (t.text == "false" || t.text == "False") return literal(Value::boolean(false), t.line);
        if (t.text == "none" || t.text == "None") return literal(Value::none(), t.line);
        return node(Expr::Kind::name, t.line, t.text, {});
      }
      case Token::Kind::string: {
        std::string s = t.text;
        ++k_;
        while (peek().kind == Token::Kind::string) s += t_[k_++].text;  // 'a' 'b' == 'ab'
        return literal(Value::string(s), t.line);
      }
      case Token::Kind::integer:
        ++k_;
        return literal(Value::integer(t.integer), t.line);
      case Token::Kind::floating:
        ++k_;
        return literal(Value::floating(t.floating), t.line);
      default:
        break;
    }
    if (skip_op("(")) {
      if (skip_op(")")) return node(Expr::Kind::list, t.line, "", {});
      ExprPtr e = tuple_or_expression();
      expect_op(")");
      return e;
    }
    if (skip_op("[")) {
      std::vector<ExprPtr> items;
      while (!at_op("]")) {
        items.push_back(expression());
        if (!skip_op(",")) break;
      }
      expect_op("]");
      return node(Expr::Kind::list, t.line, "", items);
    }
    if (skip_op("{")) {
      std::vector<ExprPtr> items;
      while (!at_op("}")) {
        items.push_back(expression());
        expect_op(":");
        items.push_back(expression());
        if (!skip_op(",")) break;
      }
      expect_op("}");
      return node(Expr::Kind::dict, t.line, "", items);
    }
    fail("unexpected '" + describe(t) + "'");
  }

  ExprPtr postfix(ExprPtr e) {
    for (;;) {
      const int line = peek().line;
      if (skip_op(".")) {
        const Token& t = peek();
        if (t.kind == Token::Kind::integer) {
          ++k_;
          e = node(Expr::Kind::item, line, "", {e, literal(Value::integer(t.integer), line)});
        } else {
          e = node(Expr::Kind::attr, line, expect_name(), {e});
        }
      } else if (skip_op("[")) {
        e = subscript(e, line);
      } else if (at_op("(")) {
        e = call(e, line);
      } else {
        return e;
      }
    }
  }

  ExprPtr subscript(ExprPtr e, int line) {
    ExprPtr parts[3];
    bool is_slice = false;
    for (int p = 0; p < 3; ++p) {
      if (!at_op(":") && !at_op("]")) parts[p] = expression();
      if (p < 2 && skip_op(":")) {
        is_slice = true;
        continue;
      }
      break;
    }
    expect_op("]");
    if (!is_slice) return node(Expr::Kind::item, line, "", {e, parts[0]});
    return node(Expr::Kind::slice, line, "", {e, parts[0], parts[1], parts[2]});
  }

  // Arguments in parentheses: positional, then name=value.
  void arguments(Expr& into) {
    expect_op("(");
    while (!at_op(")")) {
      if (peek().kind == Token::Kind::name && at_op("=", 1)) {
        const std::string key = t_[k_].text;
        k_ += 2;
        into.kwargs.emplace_back(key, expression());
      } else {
        into.args.push_back(expression());
      }
      if (!skip_op(",")) break;
    }
    expect_op(")");
  }

  ExprPtr call(ExprPtr callee, int line) {
    if (callee->kind == Expr::Kind::attr) {
      if (!is_method(callee->name)) fail("unsupported method '" + callee->name + "'");
    } else if (callee->kind == Expr::Kind::name) {
      if (!is_global_function(callee->name)) fail("unsupported function '" + callee->name + "'");
    } else {
      fail("unsupported call");
    }
    auto e = std::make_shared<Expr>(Expr{Expr::Kind::call, line, {}, "", {callee}, {}, false});
    arguments(*e);
    return e;
  }

  ExprPtr filters(ExprPtr e) {
    for (;;) {
      const int line = peek().line;
      if (skip_op("|")) {
        std::string name = expect_name();
        if (!is_filter(name)) fail("unsupported filter '" + name + "'");
        auto f = std::make_shared<Expr>(Expr{Expr::Kind::filter, line, {}, name, {e}, {}, false});
        if (at_op("(")) arguments(*f);
        e = f;
      } else if (skip_name("is")) {
        const bool negated = skip_name("not");
        std::string name = expect_name();
        if (!is_test(name)) fail("unsupported test '" + name + "'");
        auto t = std::make_shared<Expr>(Expr{Expr::Kind::test, line, {}, name, {e}, {}, negated});
        if (at_op("(")) {
          arguments(*t);
        } else {
          const Token& a = peek();
          const bool arg = a.kind == Token::Kind::string || a.kind == Token::Kind::integer ||
                           a.kind == Token::Kind::floating || at_op("[") || at_op("{") ||
                           (a.kind == Token::Kind::name && a.text != "else" && a.text != "or" &&
                            a.text != "and" && a.text != "if");
          if (arg) t->args.push_back(postfix(primary()));
        }
        e = t;
      } else {
        return e;
      }
    }
  }

  std::size_t position() const { return k_; }

 private:
  static ExprPtr node(Expr::Kind kind, int line, std::string name, std::vector<ExprPtr> args) {
    return std::make_shared<Expr>(
        Expr{kind, line, {}, std::move(name), std::move(args), {}, false});
  }
  static ExprPtr literal(Value v, int line) {
    return std::make_shared<Expr>(Expr{Expr::Kind::literal, line, std::move(v), "", {}, {}, false});
  }

  std::vector<Token> t_;
  std::size_t k_ = 0;
  const std::string& origin_;
};

class TemplateParser {
 public:
  TemplateParser(const std::string& source, const std::string& origin)
      : segments_(split_template(source, origin)), origin_(origin) {}

  Body parse() {
    Body body = block({}, nullptr, nullptr, 0);
    return body;
  }

 private:
  [[noreturn]] void fail(int line, const std::string& what) const {
    throw Error(origin_ + " line " + std::to_string(line) + ": " + what);
  }

  // Statements until one of `ends` ({% endfor %}, ...); `stop` gets its keyword and parser.
  // `opened`: the line of the tag that opened the block, for "never closed".
  Body block(const std::set<std::string>& ends, std::string* stop,
             std::unique_ptr<ExprParser>* stop_tag = nullptr, int opened = 0) {
    Body body;
    while (at_ < segments_.size()) {
      const Segment& s = segments_[at_++];
      if (s.kind == Segment::Kind::text) {
        body.push_back(Node{Node::Kind::text, s.line, s.text, {}, {}, {}, {}, {}, {}, {}});
        continue;
      }
      auto p = std::make_unique<ExprParser>(tokenize(s, origin_), origin_);
      if (s.kind == Segment::Kind::expression) {
        Node n{Node::Kind::output, s.line, {}, p->expression(), {}, {}, {}, {}, {}, {}};
        p->expect_end();
        body.push_back(std::move(n));
        continue;
      }
      const std::string keyword = p->at_end() ? "" : p->peek().text;
      if (p->peek().kind != Token::Kind::name) fail(s.line, "a statement must start with a name");
      p->expect_name();
      if (ends.count(keyword)) {
        *stop = keyword;
        if (stop_tag) *stop_tag = std::move(p);
        return body;
      }
      body.push_back(statement(keyword, *p, s.line));
    }
    if (!ends.empty()) {
      std::string names;
      for (const auto& e : ends) names += (names.empty() ? "" : "/") + e;
      fail(opened, "a block is never closed (expected " + names + ")");
    }
    return body;
  }

  Node statement(const std::string& keyword, ExprParser& p, int line) {
    Node n{Node::Kind::text, line, {}, {}, {}, {}, {}, {}, {}, {}};
    if (keyword == "if") {
      n.kind = Node::Kind::if_;
      ExprPtr cond = p.expression();
      p.expect_end();
      for (;;) {
        std::string stop;
        std::unique_ptr<ExprParser> tag;
        Body body = block({"elif", "else", "endif"}, &stop, &tag, line);
        n.branches.emplace_back(cond, std::move(body));
        if (stop == "endif") {
          tag->expect_end();
          return n;
        }
        if (stop == "else") {
          tag->expect_end();
          Body rest = block({"endif"}, &stop, &tag, line);
          tag->expect_end();
          n.branches.emplace_back(nullptr, std::move(rest));
          return n;
        }
        cond = tag->expression();
        tag->expect_end();
      }
    }
    if (keyword == "for") {
      n.kind = Node::Kind::for_;
      do n.targets.push_back(p.expect_name());
      while (p.skip_op(","));
      if (!p.skip_name("in")) p.fail("expected 'in' in a for loop");
      // Jinja2 parses the iterable without "x if c else y", so "if" starts the loop filter.
      n.expr = p.or_expr();
      if (p.skip_name("if")) n.filter = p.expression();
      if (p.at_name("recursive")) p.fail("unsupported 'recursive' for loop");
      p.expect_end();
      std::string stop;
      std::unique_ptr<ExprParser> tag;
      n.body = block({"else", "endfor"}, &stop, &tag, line);
      tag->expect_end();
      if (stop == "else") {
        n.else_body = block({"endfor"}, &stop, &tag, line);
        tag->expect_end();
      }
      return n;
    }
    if (keyword == "set") {
      n.kind = Node::Kind::set;
      n.targets.push_back(p.expect_name());
      if (p.skip_op(".")) {
        n.attr = p.expect_name();
      } else {
        while (p.skip_op(",")) n.targets.push_back(p.expect_name());
      }
      if (!p.at_op("=")) p.fail("unsupported block 'set' (a set without '=')");
      p.expect_op("=");
      n.expr = p.tuple_or_expression();
      p.expect_end();
      return n;
    }
    if (keyword == "break" || keyword == "continue") {
      p.expect_end();
      n.kind = keyword == "break" ? Node::Kind::break_ : Node::Kind::continue_;
      return n;
    }
    if (keyword == "generation") {
      // transformers' {% generation %} marks the assistant's tokens; its text renders as is.
      p.expect_end();
      std::string stop;
      std::unique_ptr<ExprParser> tag;
      n.kind = Node::Kind::if_;
      n.branches.emplace_back(nullptr, block({"endgeneration"}, &stop, &tag, line));
      tag->expect_end();
      return n;
    }
    fail(line, "unsupported statement '" + keyword + "'");
  }

  std::vector<Segment> segments_;
  std::size_t at_ = 0;
  const std::string& origin_;
};

}  // namespace

Body parse_template(const std::string& source, const std::string& origin) {
  return TemplateParser(source, origin).parse();
}

}  // namespace rlhf::jinja
