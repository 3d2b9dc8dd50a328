#include "interrupt.hpp"

#include <unistd.h>

#include <csignal>
#include <cstring>

#include "tsenor/io/files.hpp"

namespace tsenor::tool {

namespace {

constexpr struct {
  int signal;
  const char* name;
} caught[] = {{SIGINT, "SIGINT"},   {SIGTERM, "SIGTERM"}, {SIGHUP, "SIGHUP"},     {SIGPIPE, "SIGPIPE"},
              {SIGUSR1, "SIGUSR1"}, {SIGUSR2, "SIGUSR2"}, {SIGALRM, "SIGALRM"},   {SIGXCPU, "SIGXCPU"},
              {SIGXFSZ, "SIGXFSZ"}, {SIGVTALRM, "SIGVTALRM"}, {SIGPROF, "SIGPROF"}};

// Async-signal-safe only: unlink, write and _exit.
extern "C" void on_signal(int signal) {
  tsenor::io::remove_temporaries_now();
  const char* name = "a signal";
  for (const auto& c : caught)
    if (c.signal == signal) name = c.name;
  const char* rest = ": temporary files removed, no output path replaced by this run's unfinished files\n";
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
  for (const auto& c : caught) sigaddset(&action.sa_mask, c.signal);  // one handler at a time
  for (const auto& c : caught) {
    struct sigaction previous;
    // A signal the caller ignores (nohup, SIGPIPE ignored by a parent) stays ignored.
    if (::sigaction(c.signal, nullptr, &previous) == 0 && previous.sa_handler == SIG_IGN) continue;
    ::sigaction(c.signal, &action, nullptr);
  }
}

}  // namespace tsenor::tool
