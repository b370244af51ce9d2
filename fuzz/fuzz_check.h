// What every fuzz target shares: FUZZ_CHECK, a property the target asserts
// about a parser's result. A failed check is a finding like a crash: it
// prints the property and aborts, and libFuzzer saves the input.
#ifndef SQLSTEWARD_FUZZ_FUZZ_CHECK_H_
#define SQLSTEWARD_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                                   \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "%s:%d: property does not hold: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                        \
    }                                                                                      \
  } while (false)

#endif  // SQLSTEWARD_FUZZ_FUZZ_CHECK_H_
