// The parsed chat template: expressions and statements (built by sdk/src/jinja/parser.cpp,
// run by sdk/src/jinja/render.cpp).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "value.hpp"

namespace rlhf::jinja {

struct Expr;
using ExprPtr = std::shared_ptr<const Expr>;

struct Expr {
  enum class Kind {
    literal,  // value
    name,     // name
    attr,     // args[0].name
    item,     // args[0][args[1]]
    slice,    // args[0][args[1]:args[2]:args[3]] (missing parts are null)
    call,     // args[0](args[1:], kwargs)
    filter,   // args[0] | name(args[1:], kwargs)
    test,     // args[0] is [not] name args[1:]
    unary,    // name ("not", "-", "+") args[0]
    binary,   // args[0] name args[1]
    cond,     // args[1] if args[0] else args[2] (args[2] null: Undefined)
    list,     // [args...] and tuples
    dict,     // {args[0]: args[1], ...}
  };
  Kind kind;
  int line;
  Value value;
  std::string name;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  bool negated = false;
};

struct Node;
using Body = std::vector<Node>;

struct Node {
  enum class Kind { text, output, if_, for_, set, break_, continue_ };
  Kind kind;
  int line;
  std::string text;                                // text
  ExprPtr expr;                                    // output; set's value; for's iterable
  std::vector<std::string> targets;                // for's loop variables; set's names
  std::string attr;                                // set ns.attr (targets[0] is the namespace)
  ExprPtr filter;                                  // for ... if filter
  std::vector<std::pair<ExprPtr, Body>> branches;  // if/elif (else: null condition)
  Body body, else_body;                            // for
};

}  // namespace rlhf::jinja
