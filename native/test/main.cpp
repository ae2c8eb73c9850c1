// Runs every registered test (or those whose name contains argv[1]) and ends
// with "N passed, M failed"; the exit status is non-zero on any failure.
#include <cstring>
#include <exception>

#include "check.h"

int main(int argc, char** argv) {
  const char* filter = argc > 1 ? argv[1] : nullptr;
  check::State& s = check::state();
  for (const check::Test& t : check::tests()) {
    if (filter && !std::strstr(t.name, filter)) continue;
    s.current = t.name;
    s.printed_in_test = 0;
    s.hidden_in_test = 0;
    try {
      t.fn();
    } catch (const std::exception& e) {
      check::fail(__FILE__, __LINE__, std::string("exception: ") + e.what());
    } catch (...) {
      check::fail(__FILE__, __LINE__, "unknown exception");
    }
    if (s.hidden_in_test) {
      std::printf("FAIL %s: %ld more failures not shown\n", t.name, s.hidden_in_test);
    }
  }
  std::printf("%ld passed, %ld failed\n", s.passed, s.failed);
  std::fflush(stdout);
  return s.failed ? 1 : 0;
}
