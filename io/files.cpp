#include "tsenor/io/files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace tsenor::io {

namespace {

std::string errno_text(int error = errno) { return std::strerror(error); }

[[noreturn]] void fail(const std::string& what, const std::string& problem) { throw FileError(what + ": " + problem); }

// realpath(3), or "" when the path does not resolve.
std::string real_path(const std::string& path) {
  std::unique_ptr<char, decltype(&std::free)> resolved(::realpath(path.c_str(), nullptr), &std::free);
  return resolved ? std::string(resolved.get()) : std::string();
}

// (directory, last component) of a path; the directory of "name" is ".".
std::pair<std::string, std::string> split_path(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISCHR(mode)) return "a character device";
  return "not a regular file";
}

// The temporary files open in this process, for remove_temporaries_now (a signal handler): fixed storage, no
// allocation, and a slot is marked used only after its path is complete.
constexpr int max_temporaries = 16;
char temporary_paths[max_temporaries][PATH_MAX];
volatile std::sig_atomic_t temporary_used[max_temporaries];

int remember_temporary(const std::string& path) {
  if (path.size() >= PATH_MAX) return -1;
  for (int k = 0; k < max_temporaries; ++k)
    if (!temporary_used[k]) {
      std::memcpy(temporary_paths[k], path.c_str(), path.size() + 1);
      temporary_used[k] = 1;
      return k;
    }
  return -1;  // not remembered: an interrupt that ends the process at once may leave it (the next run removes it)
}

void forget_temporary(int slot) {
  if (slot >= 0) temporary_used[slot] = 0;
}

// 1 or 2 when `st` is the file this process's stdout or stderr writes to, else -1.
int standard_stream(const struct stat& st) {
  for (int fd : {STDOUT_FILENO, STDERR_FILENO}) {
    struct stat s {};
    if (::fstat(fd, &s) == 0 && s.st_dev == st.st_dev && s.st_ino == st.st_ino) return fd;
  }
  return -1;
}

}  // namespace

bool FileIdentity::operator==(const FileIdentity& other) const {
  if (exists != other.exists) return false;
  return exists ? device == other.device && inode == other.inode : resolved == other.resolved;
}

FileIdentity file_identity(const std::string& path) {
  FileIdentity id;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    id.exists = true;
    id.device = st.st_dev;
    id.inode = st.st_ino;
    return id;
  }
  const auto [dir, name] = split_path(path);
  const std::string real_dir = real_path(dir);
  id.resolved = (real_dir.empty() ? dir : real_dir) + (real_dir == "/" ? "" : "/") + name;
  return id;
}

int open_input(const std::string& path) {
  // O_NONBLOCK: opening a FIFO that has no writer returns at once instead of waiting for one.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) fail(path, "cannot open: " + errno_text());
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const int error = errno;
    ::close(fd);
    if (!S_ISREG(st.st_mode) && st.st_mode != 0)
      fail(path, std::string("is ") + kind_of(st.st_mode) + ", not a regular file: refusing to read it");
    fail(path, "cannot stat: " + errno_text(error));
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

OutputTarget check_output(const std::string& option, const std::string& path) {
  OutputTarget out;
  out.option = option;
  out.path = path;
  const std::string what = option.empty() ? path : option + " " + path;
  if (path.empty()) fail(option.empty() ? "output" : option, "the path is empty");
  if (path.back() == '/') fail(what, "names a directory; give a file name");
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (const int stream = standard_stream(st); stream >= 0) {
      out.device = true;  // /dev/stdout redirected to a file or a pipe: written where the stream writes
      out.stream = stream;
    } else if (S_ISCHR(st.st_mode)) {
      out.device = true;
    } else if (!S_ISREG(st.st_mode)) {
      fail(what, std::string("exists and is ") + kind_of(st.st_mode) +
                     "; refusing to replace it (give the path of a file to create or replace)");
    }
    out.exists = true;
    out.target = out.stream >= 0 ? path : real_path(path);  // a pipe behind /dev/stdout has no path
    if (out.target.empty()) fail(what, "cannot resolve: " + errno_text());
  } else if (errno == ENOENT) {
    struct stat link {};
    if (::lstat(path.c_str(), &link) == 0 && S_ISLNK(link.st_mode))
      fail(what, "is a symbolic link to a file that does not exist; refusing to write through it");
    const auto [dir, name] = split_path(path);
    const std::string real_dir = real_path(dir);
    if (real_dir.empty()) fail(what, "the directory " + dir + " does not exist");
    out.target = real_dir + (real_dir == "/" ? "" : "/") + name;
  } else {
    fail(what, errno_text());
  }
  if (!out.device) {
    const std::string dir = split_path(out.target).first;
    if (::access(dir.c_str(), W_OK | X_OK) != 0)
      fail(what, "cannot write in the directory " + dir + ": " + errno_text());
  }
  out.identity = file_identity(out.target);
  return out;
}

void check_distinct(const std::vector<OutputTarget>& outputs,
                    const std::vector<std::pair<std::string, std::string>>& inputs) {
  for (const auto& [description, path] : inputs) {
    const FileIdentity input = file_identity(path);
    for (const OutputTarget& out : outputs)
      if (out.identity == input)
        fail(out.option + " " + out.path,
             "is the " + description + " (" + path + "); refusing to write over an input file");
  }
  for (std::size_t i = 0; i < outputs.size(); ++i)
    for (std::size_t j = i + 1; j < outputs.size(); ++j)
      if (outputs[i].identity == outputs[j].identity && !(outputs[i].device && outputs[j].device))
        fail(outputs[i].option + " " + outputs[i].path,
             "is also named by " + outputs[j].option + " (" + outputs[j].path + "); give each output its own file");
}

std::string temporary_path(const std::string& target, long long pid) {
  return target + ".tsenor-tmp." + std::to_string(pid);
}

std::vector<std::string> remove_stale_temporaries(const OutputTarget& output,
                                                  const std::vector<std::pair<std::string, std::string>>& inputs) {
  std::vector<std::string> notes;
  if (output.device) return notes;
  const auto [dir, name] = split_path(output.target);
  const std::string prefix = name + ".tsenor-tmp.";
  struct CloseDir {
    void operator()(DIR* d) const { ::closedir(d); }
  };
  const std::unique_ptr<DIR, CloseDir> listing(::opendir(dir.c_str()));
  if (!listing) return notes;
  while (const dirent* entry = ::readdir(listing.get())) {
    const std::string file = entry->d_name;
    if (file.size() <= prefix.size() || file.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string digits = file.substr(prefix.size());
    if (digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    const long long pid = std::stoll(digits);
    const std::string path = (dir == "/" ? "" : dir) + "/" + file;
    struct stat st {};
    if (pid <= 0 || pid == ::getpid() || ::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_uid != ::geteuid())
      continue;
    const FileIdentity candidate = file_identity(path);
    bool is_input = false;
    for (const auto& input : inputs) is_input = is_input || file_identity(input.second) == candidate;
    if (is_input) continue;
    // A run holds a lock on its temporary file until it renamed it: that also protects a run in another PID
    // namespace or, where the file system supports the lock, on another host, whose pid means nothing here.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
    const bool locked = fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) != 0;
    const bool running = ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH;
    if (locked || running) {
      notes.push_back("left " + path + " alone: " +
                      (locked ? std::string("a running process is writing it") : "process " + digits + " still runs") +
                      " (is another run writing " + output.path + "?)");
    } else if (fd >= 0 && ::unlink(path.c_str()) == 0) {
      notes.push_back("removed " + path + ", left by an earlier run that was killed (process " + digits +
                      " is gone)");
    }
    if (fd >= 0) ::close(fd);
  }
  return notes;
}

OutputFile::OutputFile(const OutputTarget& output, long long pid, std::uint64_t size, bool create)
    : shown_(output.option.empty() ? output.path : output.option + " " + output.path),
      target_(output.target),
      owner_(create),
      device_(output.device) {
  if (device_) {
    fd_ = output.stream >= 0 ? ::fcntl(output.stream, F_DUPFD_CLOEXEC, 0)
                             : ::open(target_.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY);
    if (fd_ < 0) fail(shown_, "cannot open the device: " + errno_text());
    return;
  }
  temp_ = temporary_path(target_, pid);
  fd_ = ::open(temp_.c_str(), create ? (O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC) : (O_WRONLY | O_CLOEXEC), 0644);
  if (fd_ < 0) fail(shown_, "cannot " + std::string(create ? "create" : "open") + " the temporary file " + temp_ +
                                ": " + errno_text());
  if (!create) return;
  slot_ = remember_temporary(temp_);
  ::flock(fd_, LOCK_EX | LOCK_NB);  // held until the rename: remove_stale_temporaries leaves a locked file alone
  struct stat old {};
  if (output.exists && ::stat(target_.c_str(), &old) == 0) ::fchmod(fd_, old.st_mode & 07777);  // keep its mode
  if (size > 0 && ::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
    const std::string why = errno_text();
    discard();
    fail(shown_, "cannot size the temporary file " + temp_ + ": " + why);
  }
}

OutputFile::~OutputFile() {
  if (!done_) discard();
}

void OutputFile::write_at(std::uint64_t offset, const void* data, std::uint64_t bytes) {
  const char* src = static_cast<const char*>(data);
  while (bytes > 0) {
    const std::size_t step = bytes > (1u << 30) ? (1u << 30) : static_cast<std::size_t>(bytes);
    // Appending to a device uses write(): a terminal or pipe-like device cannot seek.
    const ssize_t put = device_ && offset == next_ ? ::write(fd_, src, step)
                                                   : ::pwrite(fd_, src, step, static_cast<off_t>(offset));
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) fail(shown_, "write error: " + errno_text());
    src += put;
    offset += static_cast<std::uint64_t>(put);
    bytes -= static_cast<std::uint64_t>(put);
    if (offset > next_) next_ = offset;
  }
}

void OutputFile::start_writeback(std::uint64_t offset, std::uint64_t bytes) {
#ifdef __linux__
  if (!device_ && bytes > 0)  // a hint: the data is written either way, and commit's fsync reports errors
    (void)::sync_file_range(fd_, static_cast<off_t>(offset), static_cast<off_t>(bytes), SYNC_FILE_RANGE_WRITE);
#else
  (void)offset;
  (void)bytes;
#endif
}

void OutputFile::commit() {
  if (device_) {
    ::close(fd_);
    fd_ = -1;
    done_ = true;
    return;
  }
  if (::fsync(fd_) != 0) {
    const std::string why = errno_text();
    discard();
    fail(shown_, "cannot flush " + temp_ + ": " + why);
  }
  // Renamed while still open and locked, so that no other run takes it for a killed run's file in between.
  if (owner_ && std::rename(temp_.c_str(), target_.c_str()) != 0) {
    const std::string why = errno_text();
    discard();
    fail(shown_, "cannot rename the temporary file " + temp_ + " onto it: " + why);
  }
  const int closed = ::close(fd_);
  fd_ = -1;
  if (closed != 0) {
    forget_temporary(slot_);
    slot_ = -1;
    done_ = true;
    fail(shown_, "cannot close: " + errno_text());
  }
  forget_temporary(slot_);
  slot_ = -1;
  done_ = true;
}

void OutputFile::discard() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (owner_ && !device_) ::unlink(temp_.c_str());
  forget_temporary(slot_);
  slot_ = -1;
  done_ = true;
}

void write_output(const OutputTarget& output, const std::string& text) {
  OutputFile file(output, ::getpid(), 0, true);
  file.append(text.data(), text.size());
  file.commit();
}

void remove_temporaries_now() noexcept {
  for (int k = 0; k < max_temporaries; ++k)
    if (temporary_used[k]) ::unlink(temporary_paths[k]);
}

}  // namespace tsenor::io
