// The rule that protects the user's files (io/tsenor/io/files.hpp), at the library level: identity of paths,
// refused outputs, the writer's temporary file, and the removal of what killed runs left. The tool's behaviour
// on top of it is tested end to end by tests/test_cli.py and tests/test_prune.py (class OutputSafety).
#include "tsenor/io/files.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "support/message_of.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
using tsenor::io::FileError;
using tsenor::io::OutputFile;
using tsenor::test::TempDir;

namespace {

void write_text(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }
std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
template <class F>
std::string error_of(F f) {
  return tsenor::test::message_of<FileError>(f);
}
bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("file_identity sees through spellings, symlinks and hard links") {
  const TempDir dir;
  write_text(dir.file("w.npy"), "weights");
  fs::create_directory(dir.path / "sub");
  fs::create_symlink("w.npy", dir.path / "soft.npy");
  fs::create_hard_link(dir.path / "w.npy", dir.path / "hard.npy");
  const auto w = tsenor::io::file_identity(dir.file("w.npy"));
  CHECK(w.exists);
  for (const char* other : {"sub/../w.npy", "./w.npy", "soft.npy", "hard.npy"}) {
    CAPTURE(other);
    CHECK(tsenor::io::file_identity(dir.file(other)) == w);
  }
  // Files that do not exist yet compare by the path they will be created at.
  CHECK(tsenor::io::file_identity(dir.file("new.npy")) == tsenor::io::file_identity(dir.file("sub/../new.npy")));
  CHECK(!(tsenor::io::file_identity(dir.file("new.npy")) == tsenor::io::file_identity(dir.file("sub/new.npy"))));
}

TEST_CASE("check_output refuses what is not a file to create or replace") {
  const TempDir dir;
  fs::create_directory(dir.path / "d");
  REQUIRE(::mkfifo(dir.file("fifo").c_str(), 0600) == 0);
  fs::create_symlink("missing", dir.path / "dangling");
  CHECK(contains(error_of([&] { tsenor::io::check_output("--output", dir.file("d")); }), "is a directory"));
  CHECK(contains(error_of([&] { tsenor::io::check_output("--output", dir.file("d/")); }), "names a directory"));
  CHECK(contains(error_of([&] { tsenor::io::check_output("--output", dir.file("fifo")); }), "is a FIFO"));
  CHECK(contains(error_of([&] { tsenor::io::check_output("--output", dir.file("dangling")); }), "does not exist"));
  CHECK(contains(error_of([&] { tsenor::io::check_output("--output", dir.file("none/x")); }), "does not exist"));
  CHECK(contains(error_of([&] { tsenor::io::check_output("--output", ""); }), "empty"));
  const auto null = tsenor::io::check_output("--output", "/dev/null");
  CHECK(null.device);
  const auto fresh = tsenor::io::check_output("--report", dir.file("r.json"));
  CHECK(!fresh.exists);
  CHECK(!fresh.device);
}

TEST_CASE("check_distinct compares outputs with inputs and with each other") {
  const TempDir dir;
  write_text(dir.file("in.npy"), "input");
  fs::create_symlink("in.npy", dir.path / "link.npy");
  const auto out = tsenor::io::check_output("--output", dir.file("link.npy"));
  const std::string message =
      error_of([&] { tsenor::io::check_distinct({out}, {{"--input file", dir.file("./in.npy")}}); });
  CHECK(contains(message, "is the --input file"));
  const auto a = tsenor::io::check_output("--output", dir.file("x.npy"));
  const auto b = tsenor::io::check_output("--report", dir.file("./x.npy"));
  CHECK(contains(error_of([&] { tsenor::io::check_distinct({a, b}, {}); }), "is also named by --report"));
  const auto n1 = tsenor::io::check_output("--output", "/dev/null");
  const auto n2 = tsenor::io::check_output("--report", "/dev/null");
  CHECK(error_of([&] { tsenor::io::check_distinct({n1, n2}, {}); }) == "(no exception)");
}

TEST_CASE("OutputFile replaces its path only on commit") {
  const TempDir dir;
  const std::string path = dir.file("m.npy");
  write_text(path, "older");
  const auto target = tsenor::io::check_output("--output", path);
  {
    OutputFile file(target, ::getpid(), 0, true);
    file.append("new", 3);
    CHECK(read_text(path) == "older");
    CHECK(fs::exists(file.temporary()));
  }  // destroyed uncommitted: discarded
  CHECK(read_text(path) == "older");
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
  {
    OutputFile file(target, ::getpid(), 0, true);
    file.append("new", 3);
    file.commit();
  }
  CHECK(read_text(path) == "new");
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
  // An existing temporary file is never overwritten: it is created exclusively.
  write_text(tsenor::io::temporary_path(target.target, ::getpid()), "someone else's");
  CHECK(contains(error_of([&] { OutputFile(target, ::getpid(), 0, true); }), "cannot create the temporary file"));
  CHECK(read_text(tsenor::io::temporary_path(target.target, ::getpid())) == "someone else's");
}

TEST_CASE("remove_temporaries_now removes what an interrupted process would leave") {
  const TempDir dir;
  const auto target = tsenor::io::check_output("--output", dir.file("m.npy"));
  OutputFile file(target, ::getpid(), 1 << 20, true);
  REQUIRE(fs::exists(file.temporary()));
  tsenor::io::remove_temporaries_now();  // what the signal handler does before _exit
  CHECK(!fs::exists(file.temporary()));
  file.discard();
}

TEST_CASE("remove_stale_temporaries removes only dead processes' files that are not inputs") {
  const TempDir dir;
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);  // a pid that is gone
  const auto target = tsenor::io::check_output("--output", dir.file("m.npy"));
  const std::string dead = tsenor::io::temporary_path(target.target, child);
  const std::string live = tsenor::io::temporary_path(target.target, ::getppid());
  const std::string input = tsenor::io::temporary_path(target.target, 1);
  const std::string other = dir.file("m.npy.tsenor-tmp.x1");
  const std::string users = dir.file("m.npy.tmp." + std::to_string(child));  // not our naming: a user's file
  for (const auto& p : {dead, live, input, other, users}) write_text(p, "left over");
  const auto notes = tsenor::io::remove_stale_temporaries(target, {{"--input file", input}});
  CHECK(!fs::exists(dead));
  CHECK(fs::exists(live));
  CHECK(fs::exists(input));
  CHECK(fs::exists(other));
  CHECK(fs::exists(users));
  REQUIRE(notes.size() == 2);  // pid 1 is an input: skipped without a note
}

TEST_CASE("remove_stale_temporaries leaves a file alone while its writer holds it, whatever its pid says") {
  const TempDir dir;
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);  // a pid that is gone: as a run in another PID namespace or on another host looks
  const auto target = tsenor::io::check_output("--output", dir.file("m.npy"));
  OutputFile writing(target, child, 16, true);  // its lock is what protects it
  const auto notes = tsenor::io::remove_stale_temporaries(target, {});
  CHECK(fs::exists(writing.temporary()));
  REQUIRE(notes.size() == 1);
  CHECK(contains(notes[0], "a running process is writing it"));
  writing.discard();
}

TEST_CASE("open_input refuses non-regular files without blocking") {
  const TempDir dir;
  REQUIRE(::mkfifo(dir.file("fifo").c_str(), 0600) == 0);
  CHECK(contains(error_of([&] { tsenor::io::open_input(dir.file("fifo")); }), "is a FIFO"));
  CHECK(contains(error_of([&] { tsenor::io::open_input(dir.path.string()); }), "is a directory"));
  CHECK(contains(error_of([&] { tsenor::io::open_input(dir.file("missing")); }), "cannot open"));
  write_text(dir.file("f"), "x");
  const int fd = tsenor::io::open_input(dir.file("f"));
  CHECK(fd >= 0);
  ::close(fd);
}
