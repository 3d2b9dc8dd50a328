// A Kokkos Tools library that says where a run's time goes, kernel by kernel: load it into any program
// built on Kokkos (the tool, the Python package, bench_device) with
//   KOKKOS_TOOLS_LIBS=build/perf/libtsenor_kernel_timer.so        (Kokkos 4)
//   KOKKOS_PROFILE_LIBRARY=build/perf/libtsenor_kernel_timer.so   (Kokkos 3.4)
// and it prints, when Kokkos finalizes (or the process exits), per kernel name: the calls, the seconds
// from launch to end, and the seconds between the previous kernel's end and this one's launch ("before
// NAME": host work, and vendor calls such as OpenBLAS or cuBLAS GEMMs, which Kokkos does not see). It asks
// Kokkos to fence around every kernel, so GPU kernels are timed whole — and asynchronous overlap is lost:
// use it to find where time goes, not to time a run. Regions (Kokkos::Profiling::pushRegion) are listed
// apart. TSENOR_KERNEL_TIMER_TOP=K prints K lines (default 30).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Totals {
  double seconds = 0.0;
  long calls = 0;
};

struct State {
  std::mutex mutex;
  std::map<std::string, Totals> kernels, gaps, regions;
  Clock::time_point last_end;
  bool any_end = false;
  bool reported = false;
};

State& state() {
  static State* s = new State;  // never destroyed: kernels may end during static destruction
  return *s;
}

struct Open {
  std::string name;
  Clock::time_point start;
};
thread_local std::vector<Open> open_kernels, open_regions;

double since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

void begin_kernel(const char* name, std::uint64_t* id) {
  const auto now = Clock::now();
  State& s = state();
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    if (s.any_end) {
      Totals& gap = s.gaps[name];
      gap.seconds += std::chrono::duration<double>(now - s.last_end).count();
      ++gap.calls;
    }
  }
  open_kernels.push_back({name, now});
  *id = open_kernels.size() - 1;
}

void end_kernel(std::uint64_t) {
  if (open_kernels.empty()) return;
  const Open kernel = open_kernels.back();
  open_kernels.pop_back();
  const auto now = Clock::now();
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  Totals& t = s.kernels[kernel.name];
  t.seconds += std::chrono::duration<double>(now - kernel.start).count();
  ++t.calls;
  s.last_end = now;
  s.any_end = true;
}

void print(const char* title, const std::map<std::string, Totals>& totals, const char* prefix, double all,
           std::size_t top) {
  std::vector<std::pair<std::string, Totals>> rows(totals.begin(), totals.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    return a.second.seconds != b.second.seconds ? a.second.seconds > b.second.seconds : a.first < b.first;
  });
  if (rows.empty()) return;
  std::fprintf(stderr, "%s\n", title);
  for (std::size_t i = 0; i < rows.size() && i < top; ++i) {
    char share[16] = "      ";  // regions overlap kernels and each other: no share
    if (all > 0) std::snprintf(share, sizeof share, "%5.1f%%", 100.0 * rows[i].second.seconds / all);
    std::fprintf(stderr, "  %10.4f s %7ld calls %s  %s%s\n", rows[i].second.seconds, rows[i].second.calls, share,
                 prefix, rows[i].first.c_str());
  }
}

void report() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.reported) return;
  s.reported = true;
  const char* top_text = std::getenv("TSENOR_KERNEL_TIMER_TOP");
  const std::size_t top = top_text ? std::strtoul(top_text, nullptr, 10) : 30;
  double in_kernels = 0.0, between = 0.0;
  long calls = 0;
  for (const auto& k : s.kernels) in_kernels += k.second.seconds, calls += k.second.calls;
  for (const auto& g : s.gaps) between += g.second.seconds;
  std::map<std::string, Totals> both;  // kernels and the gaps before them, in one ranking
  for (const auto& k : s.kernels) both[k.first] = k.second;
  for (const auto& g : s.gaps) both["(before) " + g.first] = g.second;
  std::fprintf(stderr, "tsenor kernel timer: %.4f s in %ld kernel calls, %.4f s between them\n", in_kernels, calls,
               between);
  print("  seconds, calls and share of kernels + gaps, by name:", both, "", in_kernels + between, top);
  print("  regions:", s.regions, "region ", 0.0, top);
  std::fflush(stderr);
}

}  // namespace

extern "C" {

// Kokkos 4 asks a tool for its settings; this one needs a fence around every kernel (the layout of
// Kokkos_Tools_ToolSettings: one bool, then padding).
struct TsenorToolSettings {
  bool requires_global_fencing;
  bool padding[255];
};
void kokkosp_request_tool_settings(const std::uint32_t, TsenorToolSettings* settings) {
  settings->requires_global_fencing = true;
}
void kokkosp_init_library(const int, const std::uint64_t, const std::uint32_t, void*) {}
void kokkosp_finalize_library() { report(); }
void kokkosp_begin_parallel_for(const char* name, const std::uint32_t, std::uint64_t* id) { begin_kernel(name, id); }
void kokkosp_end_parallel_for(const std::uint64_t id) { end_kernel(id); }
void kokkosp_begin_parallel_reduce(const char* name, const std::uint32_t, std::uint64_t* id) { begin_kernel(name, id); }
void kokkosp_end_parallel_reduce(const std::uint64_t id) { end_kernel(id); }
void kokkosp_begin_parallel_scan(const char* name, const std::uint32_t, std::uint64_t* id) { begin_kernel(name, id); }
void kokkosp_end_parallel_scan(const std::uint64_t id) { end_kernel(id); }
void kokkosp_push_profile_region(const char* name) { open_regions.push_back({name, Clock::now()}); }
void kokkosp_pop_profile_region() {
  if (open_regions.empty()) return;
  const Open region = open_regions.back();
  open_regions.pop_back();
  const double seconds = since(region.start);
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  Totals& t = s.regions[region.name];
  t.seconds += seconds;
  ++t.calls;
}

}  // extern "C"

// A program that exits without Kokkos::finalize still gets its report.
__attribute__((destructor)) static void report_at_exit() { report(); }
