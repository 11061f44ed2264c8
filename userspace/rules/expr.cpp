#include "rules/expr.h"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace ktrail::rules {

namespace {

enum class Tok : uint8_t {
  End, Ident, String, Int, LParen, RParen, LBracket, RBracket, Comma, Question,
  Eq, Ne, Lt, Le, Gt, Ge, RegexOp,
  And, Or, Not, In, Matches, Exists, True, False,
};

struct Token {
  Tok kind = Tok::End;
  size_t pos = 0;
  std::string text;  // identifier, or the unescaped string literal
  int64_t num = 0;
};

const char *describe(const Token &t) {
  switch (t.kind) {
    case Tok::End: return "end of condition";
    case Tok::Ident: return "field name";
    case Tok::String: return "string";
    case Tok::Int: return "number";
    case Tok::LParen: return "'('";
    case Tok::RParen: return "')'";
    case Tok::LBracket: return "'['";
    case Tok::RBracket: return "']'";
    case Tok::Comma: return "','";
    case Tok::Question: return "'?'";
    case Tok::Eq: return "'=='";
    case Tok::Ne: return "'!='";
    case Tok::Lt: return "'<'";
    case Tok::Le: return "'<='";
    case Tok::Gt: return "'>'";
    case Tok::Ge: return "'>='";
    case Tok::RegexOp: return "'=~'";
    case Tok::And: return "'and'";
    case Tok::Or: return "'or'";
    case Tok::Not: return "'not'";
    case Tok::In: return "'in'";
    case Tok::Matches: return "'matches'";
    case Tok::Exists: return "'exists'";
    case Tok::True: return "'true'";
    case Tok::False: return "'false'";
  }
  return "token";
}

struct Fail {
  size_t pos;
  std::string msg;
};

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}

  Token next() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) i_++;
    Token t;
    t.pos = i_;
    if (i_ >= s_.size()) return t;
    char c = s_[i_];
    auto two = [&](char second) { return i_ + 1 < s_.size() && s_[i_ + 1] == second; };
    switch (c) {
      case '(': i_++; t.kind = Tok::LParen; return t;
      case ')': i_++; t.kind = Tok::RParen; return t;
      case '[': i_++; t.kind = Tok::LBracket; return t;
      case ']': i_++; t.kind = Tok::RBracket; return t;
      case ',': i_++; t.kind = Tok::Comma; return t;
      case '?': i_++; t.kind = Tok::Question; return t;
      case '=':
        if (two('=')) { i_ += 2; t.kind = Tok::Eq; return t; }
        if (two('~')) { i_ += 2; t.kind = Tok::RegexOp; return t; }
        throw Fail{i_, "unexpected '=' (did you mean '=='?)"};
      case '!':
        if (two('=')) { i_ += 2; t.kind = Tok::Ne; return t; }
        throw Fail{i_, "unexpected '!' (use 'not' or '!=')"};
      case '<':
        if (two('=')) { i_ += 2; t.kind = Tok::Le; return t; }
        i_++; t.kind = Tok::Lt; return t;
      case '>':
        if (two('=')) { i_ += 2; t.kind = Tok::Ge; return t; }
        i_++; t.kind = Tok::Gt; return t;
      case '"':
      case '\'':
        return string_literal(c);
      default: break;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || (c == '-' && i_ + 1 < s_.size() &&
                                                         std::isdigit(static_cast<unsigned char>(s_[i_ + 1])))) {
      size_t start = i_++;
      while (i_ < s_.size() && std::isalnum(static_cast<unsigned char>(s_[i_]))) i_++;
      auto [p, ec] = std::from_chars(s_.data() + start, s_.data() + i_, t.num);
      if (ec != std::errc() || p != s_.data() + i_) throw Fail{start, "invalid number '" + std::string(s_.substr(start, i_ - start)) + "'"};
      t.kind = Tok::Int;
      return t;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == '@') {
      size_t start = i_;
      while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_' ||
                                s_[i_] == '.' || s_[i_] == '@'))
        i_++;
      t.text = std::string(s_.substr(start, i_ - start));
      static const std::pair<const char *, Tok> kw[] = {
          {"and", Tok::And}, {"or", Tok::Or}, {"not", Tok::Not}, {"in", Tok::In},
          {"matches", Tok::Matches}, {"exists", Tok::Exists}, {"true", Tok::True}, {"false", Tok::False}};
      t.kind = Tok::Ident;
      for (auto [w, k] : kw)
        if (t.text == w) t.kind = k;
      return t;
    }
    throw Fail{i_, std::string("unexpected character '") + (std::isprint(static_cast<unsigned char>(c)) ? std::string(1, c) : "\\x" + hex(c)) + "'"};
  }

 private:
  static std::string hex(char c) {
    const char *d = "0123456789abcdef";
    unsigned char u = static_cast<unsigned char>(c);
    return {d[u >> 4], d[u & 15]};
  }

  Token string_literal(char quote) {
    Token t;
    t.kind = Tok::String;
    t.pos = i_++;
    while (true) {
      if (i_ >= s_.size()) throw Fail{t.pos, "unterminated string"};
      char c = s_[i_++];
      if (c == quote) return t;
      if (c != '\\') {
        t.text += c;
        continue;
      }
      if (i_ >= s_.size()) throw Fail{t.pos, "unterminated string"};
      char e = s_[i_++];
      switch (e) {
        case 'n': t.text += '\n'; break;
        case 't': t.text += '\t'; break;
        case '\\': case '"': case '\'': t.text += e; break;
        // Regex and glob escapes pass through unchanged: "\." stays "\.".
        default: t.text += '\\'; t.text += e; break;
      }
    }
  }

  std::string_view s_;
  size_t i_ = 0;
};

}  // namespace

class Parser {
 public:
  Parser(std::string_view src, Expr &out) : lex_(src), out_(out) { advance(); }

  void parse() {
    out_.root_ = parse_or(0);
    if (cur_.kind != Tok::End) throw Fail{cur_.pos, std::string("expected 'and', 'or' or end of condition, found ") + describe(cur_)};
  }

 private:
  using Op = Expr::Op;
  using Node = Expr::Node;

  void advance() { cur_ = lex_.next(); }
  void expect(Tok k, const char *what) {
    if (cur_.kind != k) throw Fail{cur_.pos, std::string("expected ") + what + ", found " + describe(cur_)};
    advance();
  }
  int add(Node n) {
    out_.nodes_.push_back(std::move(n));
    return static_cast<int>(out_.nodes_.size() - 1);
  }
  void deeper(int depth) {
    if (depth > kMaxExprDepth) throw Fail{cur_.pos, "condition nested too deeply (more than " + std::to_string(kMaxExprDepth) + " levels)"};
  }

  // left-associative chain of one binary operator over the next tighter level
  int parse_chain(int depth, Tok tok, Op op, int (Parser::*next)(int)) {
    deeper(depth);
    int l = (this->*next)(depth + 1);
    while (cur_.kind == tok) {
      advance();
      int r = (this->*next)(depth + 1);
      Node n;
      n.op = op, n.a = l, n.b = r;
      l = add(std::move(n));
    }
    return l;
  }
  int parse_or(int depth) { return parse_chain(depth, Tok::Or, Op::Or, &Parser::parse_and); }
  int parse_and(int depth) { return parse_chain(depth, Tok::And, Op::And, &Parser::parse_unary); }

  int parse_unary(int depth) {
    deeper(depth);
    if (cur_.kind == Tok::Not) {
      advance();
      Node n;
      n.op = Op::Not;
      n.a = parse_unary(depth + 1);
      return add(std::move(n));
    }
    return parse_primary(depth + 1);
  }

  const FieldDef *field_at(const Token &t) {
    const FieldDef *f = find_field(t.text);
    if (f) return f;
    std::string hint = suggest_field(t.text);
    throw Fail{t.pos, "unknown field '" + t.text + "'" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)")};
  }

  int parse_primary(int depth) {
    if (cur_.kind == Tok::LParen) {
      advance();
      int n = parse_or(depth + 1);
      expect(Tok::RParen, "')'");
      return n;
    }
    if (cur_.kind == Tok::Exists) {
      advance();
      expect(Tok::LParen, "'(' after exists");
      if (cur_.kind != Tok::Ident) throw Fail{cur_.pos, std::string("expected a field name, found ") + describe(cur_)};
      Node n;
      n.op = Op::Exists;
      n.field = field_at(cur_);
      advance();
      expect(Tok::RParen, "')'");
      return add(std::move(n));
    }
    if (cur_.kind != Tok::Ident)
      throw Fail{cur_.pos, std::string("expected a field name, 'not', 'exists' or '(', found ") + describe(cur_)};
    Token ft = cur_;
    Node n;
    n.field = field_at(ft);
    advance();
    const FieldType type = n.field->type;
    switch (cur_.kind) {
      case Tok::Question:
        advance();
        n.op = Op::Exists;
        return add(std::move(n));
      case Tok::Eq: case Tok::Ne: case Tok::Lt: case Tok::Le: case Tok::Gt: case Tok::Ge: {
        Tok op = cur_.kind;
        Token opt = cur_;
        advance();
        n.op = op == Tok::Eq ? Op::Eq : op == Tok::Ne ? Op::Ne : op == Tok::Lt ? Op::Lt
             : op == Tok::Le ? Op::Le : op == Tok::Gt ? Op::Gt : Op::Ge;
        if (type != FieldType::Int && op != Tok::Eq && op != Tok::Ne)
          throw Fail{opt.pos, std::string(describe(opt)) + " needs a number; " + ft.text + " is " + type_name(type)};
        literal(n, ft, type, n.str, n.num);
        return add(std::move(n));
      }
      case Tok::Not:
      case Tok::In: {
        bool negate = cur_.kind == Tok::Not;
        if (negate) {
          advance();
          if (cur_.kind != Tok::In) throw Fail{cur_.pos, std::string("expected 'in' after 'not', found ") + describe(cur_)};
        }
        advance();
        expect(Tok::LBracket, "'[' after in");
        n.op = Op::In;
        while (true) {
          std::string s;
          int64_t v = 0;
          literal(n, ft, type, s, v);
          if (type == FieldType::String) n.strs.push_back(std::move(s));
          else n.nums.push_back(v);
          if (cur_.kind == Tok::Comma) {
            advance();
            continue;
          }
          expect(Tok::RBracket, "',' or ']'");
          break;
        }
        int in = add(std::move(n));
        if (!negate) return in;
        Node no;
        no.op = Op::Not;
        no.a = in;
        return add(std::move(no));
      }
      case Tok::Matches:
      case Tok::RegexOp: {
        bool regex = cur_.kind == Tok::RegexOp;
        Token opt = cur_;
        advance();
        if (type != FieldType::String)
          throw Fail{opt.pos, std::string(describe(opt)) + " needs a string field; " + ft.text + " is " + type_name(type)};
        if (cur_.kind != Tok::String) throw Fail{cur_.pos, std::string("expected a pattern string, found ") + describe(cur_)};
        n.op = regex ? Op::Regex : Op::Glob;
        n.str = cur_.text;
        if (regex) {
          try {
            n.re = std::make_shared<const std::regex>(n.str, std::regex::ECMAScript | std::regex::optimize);
          } catch (const std::regex_error &ex) {
            throw Fail{cur_.pos, std::string("invalid regular expression: ") + ex.what()};
          }
        }
        advance();
        return add(std::move(n));
      }
      default:
        if (type == FieldType::Bool) {
          n.op = Op::Truthy;
          return add(std::move(n));
        }
        throw Fail{cur_.pos, ft.text + " is " + type_name(type) + ": compare it (==, !=, in, matches, =~) or test it with " +
                                  ft.text + "?; found " + describe(cur_)};
    }
  }

  // One literal of the field's type.
  void literal(const Node &, const Token &ft, FieldType type, std::string &s, int64_t &v) {
    Token t = cur_;
    bool ok = false;
    switch (type) {
      case FieldType::String: ok = t.kind == Tok::String; s = t.text; break;
      case FieldType::Int: ok = t.kind == Tok::Int; v = t.num; break;
      case FieldType::Bool: ok = t.kind == Tok::True || t.kind == Tok::False; v = t.kind == Tok::True; break;
    }
    if (!ok) {
      if (t.kind == Tok::End || t.kind == Tok::RParen || t.kind == Tok::RBracket || t.kind == Tok::Comma ||
          t.kind == Tok::And || t.kind == Tok::Or)
        throw Fail{t.pos, std::string("expected a value, found ") + describe(t)};
      throw Fail{t.pos, ft.text + " is " + type_name(type) + "; found " + describe(t)};
    }
    advance();
  }

  Lexer lex_;
  Token cur_;
  Expr &out_;
};

namespace {

using Op = Expr::Op;

// The actions every match must have: intersect across `and`, unite across `or` (only when both
// sides constrain), nothing known through `not`.
std::optional<std::set<std::string>> actions_of(const std::vector<Expr::Node> &nodes, int n) {
  const Expr::Node &x = nodes[n];
  const bool action = x.field && std::string_view(x.field->name) == "event.action";
  switch (x.op) {
    case Op::Eq:
      if (action) return std::set<std::string>{x.str};
      return std::nullopt;
    case Op::In:
      if (action) return std::set<std::string>(x.strs.begin(), x.strs.end());
      return std::nullopt;
    case Op::And: {
      auto l = actions_of(nodes, x.a), r = actions_of(nodes, x.b);
      if (!l) return r;
      if (!r) return l;
      std::set<std::string> both;
      std::set_intersection(l->begin(), l->end(), r->begin(), r->end(), std::inserter(both, both.begin()));
      return both;
    }
    case Op::Or: {
      auto l = actions_of(nodes, x.a), r = actions_of(nodes, x.b);
      if (!l || !r) return std::nullopt;
      l->insert(r->begin(), r->end());
      return l;
    }
    default: return std::nullopt;
  }
}

}  // namespace

bool Expr::compile(std::string_view src, ExprError &err) {
  nodes_.clear();
  root_ = -1;
  actions_.reset();
  if (src.size() > kMaxExprBytes) {
    err = {kMaxExprBytes, "condition longer than " + std::to_string(kMaxExprBytes) + " bytes"};
    return false;
  }
  try {
    Parser(src, *this).parse();
  } catch (const Fail &f) {
    err = {f.pos, f.msg};
    nodes_.clear();
    root_ = -1;
    return false;
  }
  actions_ = actions_of(nodes_, root_);
  return true;
}

bool Expr::eval_node(int idx, const Event &e, std::string &scratch) const {
  const Node &n = nodes_[idx];
  switch (n.op) {
    case Op::And: return eval_node(n.a, e, scratch) && eval_node(n.b, e, scratch);
    case Op::Or: return eval_node(n.a, e, scratch) || eval_node(n.b, e, scratch);
    case Op::Not: return !eval_node(n.a, e, scratch);
    default: break;
  }
  Value v;
  if (!n.field->get(e, v, scratch)) return false;
  const bool is_str = n.field->type == FieldType::String;
  switch (n.op) {
    case Op::Exists: return true;
    case Op::Truthy: return v.i != 0;
    case Op::Eq: return is_str ? v.s == n.str : v.i == n.num;
    case Op::Ne: return is_str ? v.s != n.str : v.i != n.num;
    case Op::Lt: return v.i < n.num;
    case Op::Le: return v.i <= n.num;
    case Op::Gt: return v.i > n.num;
    case Op::Ge: return v.i >= n.num;
    case Op::In:
      if (is_str) return std::find(n.strs.begin(), n.strs.end(), v.s) != n.strs.end();
      return std::find(n.nums.begin(), n.nums.end(), v.i) != n.nums.end();
    case Op::Glob: {
      // fnmatch needs a terminated string; scratch may already hold v.s, so copy aside.
      std::string subject(v.s);
      return fnmatch(n.str.c_str(), subject.c_str(), 0) == 0;
    }
    case Op::Regex:
      return std::regex_search(v.s.begin(), v.s.end(), *n.re);
    default: return false;
  }
}

}  // namespace ktrail::rules
