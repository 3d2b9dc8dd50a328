// The message of the exception of type E that a callable throws; any other exception fails the test case.
#pragma once

#include <string>

namespace tsenor::test {

template <class E, class F>
std::string message_of(F f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "(no exception)";
}

}  // namespace tsenor::test
