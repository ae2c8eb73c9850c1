// A tiny header-only test harness: TEST() registers a function, CHECK() and
// CHECK_EQ() count a check each and print one line per failure, CTX() adds a
// scoped note (e.g. "split at 17") to the failure lines printed inside it.
//
// Output is one "FAIL file:line test: what [context]" line per failed check
// (at most kMaxPrintedPerTest per test, then one line saying how many more
// failed), and finally "N passed, M failed". main() lives in main.cpp.
#pragma once
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace check {

struct Test {
  const char* name;
  void (*fn)();
};

inline std::vector<Test>& tests() {
  static std::vector<Test> t;
  return t;
}

struct State {
  long passed = 0;
  long failed = 0;
  const char* current = "";
  long printed_in_test = 0;
  long hidden_in_test = 0;
  std::vector<std::string> context;
};

inline State& state() {
  static State s;
  return s;
}

constexpr long kMaxPrintedPerTest = 25;

struct Registrar {
  Registrar(const char* name, void (*fn)()) { tests().push_back({name, fn}); }
};

__attribute__((format(printf, 1, 2))) inline std::string strf(const char* fmt, ...) {
  char small[256];
  va_list ap;
  va_start(ap, fmt);
  int n = std::vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) return "?";
  if (size_t(n) < sizeof small) return std::string(small, size_t(n));
  std::string big(size_t(n) + 1, '\0');
  va_start(ap, fmt);
  std::vsnprintf(big.data(), big.size(), fmt, ap);
  va_end(ap);
  big.resize(size_t(n));
  return big;
}

// Scoped context note, printed with every failure inside its scope.
struct Scope {
  explicit Scope(std::string s) { state().context.push_back(std::move(s)); }
  ~Scope() { state().context.pop_back(); }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;
};

inline void pass() { ++state().passed; }

inline void fail(const char* file, int line, const std::string& what) {
  State& s = state();
  ++s.failed;
  if (s.printed_in_test >= kMaxPrintedPerTest) {
    ++s.hidden_in_test;
    return;
  }
  ++s.printed_in_test;
  std::string ctx;
  for (const auto& c : s.context) {
    ctx += " [";
    ctx += c;
    ctx += "]";
  }
  const char* base = file;
  for (const char* p = file; *p; ++p) {
    if (*p == '/') base = p + 1;
  }
  std::printf("FAIL %s:%d %s: %s%s\n", base, line, s.current, what.c_str(), ctx.c_str());
}

inline bool record(bool ok, const char* expr, const char* file, int line) {
  if (ok) {
    pass();
  } else {
    fail(file, line, std::string("CHECK(") + expr + ")");
  }
  return ok;
}

// Printable forms of values for CHECK_EQ.
inline std::string escape(std::string_view s, size_t limit = 160) {
  std::string out = "\"";
  size_t n = 0;
  for (unsigned char c : s) {
    if (n++ == limit) {
      out += strf("...(%zu bytes)", s.size());
      break;
    }
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c >= 0x20 && c < 0x7f) {
      out += char(c);
    } else {
      out += strf("\\x%02x", c);
    }
  }
  return out + "\"";
}

inline std::string show(bool v) { return v ? "true" : "false"; }
inline std::string show(std::string_view s) { return escape(s); }
inline std::string show(const std::string& s) { return escape(s); }
inline std::string show(const char* s) { return s ? escape(s) : "null"; }
inline std::string show(std::nullptr_t) { return "null"; }
inline std::string show(const void* p) { return strf("%p", p); }
inline std::string show(const std::vector<uint8_t>& v) {
  return escape(std::string_view(reinterpret_cast<const char*>(v.data()), v.size()));
}
template <class T>
std::string show(const T& v) {
  if constexpr (std::is_enum_v<T>) {
    return std::to_string(static_cast<long long>(static_cast<std::underlying_type_t<T>>(v)));
  } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    return std::to_string(static_cast<long long>(v));
  } else if constexpr (std::is_integral_v<T>) {
    return std::to_string(static_cast<unsigned long long>(v));
  } else if constexpr (requires { to_string(v); }) {
    return to_string(v);  // found by ADL for test-defined types
  } else {
    return "<?>";
  }
}

template <class T>
auto plain(const T& v) {
  if constexpr (std::is_enum_v<T>) {
    return static_cast<std::underlying_type_t<T>>(v);
  } else {
    return v;
  }
}

template <class A, class B>
bool equal(const A& a, const B& b) {
  auto pa = plain(a);
  auto pb = plain(b);
  using PA = decltype(pa);
  using PB = decltype(pb);
  if constexpr (std::is_integral_v<PA> && std::is_integral_v<PB> && !std::is_same_v<PA, bool> &&
                !std::is_same_v<PB, bool>) {
    return std::cmp_equal(pa, pb);
  } else {
    return pa == pb;
  }
}

template <class A, class B>
bool record_eq(const A& a, const B& b, const char* ea, const char* eb, const char* file, int line) {
  if (equal(a, b)) {
    pass();
    return true;
  }
  fail(file, line, std::string("CHECK_EQ(") + ea + ", " + eb + "): " + show(a) + " != " + show(b));
  return false;
}

}  // namespace check

#define CHECK_CAT2(a, b) a##b
#define CHECK_CAT(a, b) CHECK_CAT2(a, b)

#define TEST(name)                                                   \
  static void name();                                                \
  static ::check::Registrar CHECK_CAT(name, _registrar)(#name, name); \
  static void name()

#define CHECK(cond) ::check::record(bool(cond), #cond, __FILE__, __LINE__)
#define CHECK_EQ(a, b) ::check::record_eq((a), (b), #a, #b, __FILE__, __LINE__)
// Records a failure with a free-form message (printf-style).
#define FAIL_MSG(...) ::check::fail(__FILE__, __LINE__, ::check::strf(__VA_ARGS__))
#define CTX(...) ::check::Scope CHECK_CAT(check_scope_, __LINE__)(::check::strf(__VA_ARGS__))
