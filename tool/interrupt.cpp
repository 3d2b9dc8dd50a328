#include "interrupt.hpp"

#include <unistd.h>

#include <csignal>
#include <cstring>

#include "tsenor/io/files.hpp"

namespace tsenor::tool {

namespace {

// Async-signal-safe only: unlink, write and _exit.
extern "C" void on_signal(int signal) {
  tsenor::io::remove_temporaries_now();
  const char* name = signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "SIGHUP";
  const char* rest = ": no output written, files at the output paths are unchanged\n";
  const char* head = "tsenor: interrupted by ";
  if (::write(STDERR_FILENO, head, std::strlen(head)) < 0 || ::write(STDERR_FILENO, name, std::strlen(name)) < 0 ||
      ::write(STDERR_FILENO, rest, std::strlen(rest)) < 0) {
    // nothing more can be done about a closed stderr
  }
  ::_exit(128 + signal);
}

}  // namespace

void catch_interrupts() {
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  for (int signal : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&action.sa_mask, signal);  // one handler at a time
  for (int signal : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(signal, &action, nullptr);
}

}  // namespace tsenor::tool
