#pragma once
// The files a run reads and writes, and the rule that protects the user's files:
//
//   A run never deletes or replaces a file it did not create, except the one it was asked to write, and only
//   after it finished that file.
//
// Inputs are opened with open_input, which refuses anything that is not a regular file (a FIFO would block the
// run forever, a directory or device is a mistake) without blocking. Outputs are checked with check_output before
// any input is read: an existing directory, FIFO, socket or block device is refused, a character device (such as
// /dev/null) is written in place and never replaced, a symbolic link is followed (the file it names is replaced,
// the link stays), a path that names the process's own stdout or stderr (/dev/stdout redirected to a file or a
// pipe) is written into that stream, and the directory that will hold the file must exist and be writable.
// check_distinct then compares outputs with every input and with each other by identity (device and inode of an
// existing file, else the absolute path it will be created at), so no spelling, link or hard link can make a run
// write over its input.
//
// OutputFile is the one writer of every output (masks, checkpoints, reports): the data goes to
// PATH.tsenor-tmp.<pid> in the same directory, created exclusively and locked, and commit() renames it onto PATH,
// so PATH holds either its previous content or the complete new file. A run that fails or is interrupted removes
// its temporary file and leaves PATH as it was. A temporary file that a killed run (SIGKILL, power loss) could not
// remove is removed by the next run to the same PATH, and only if the process named by its suffix is gone and no
// process holds its lock.

#include <sys/types.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace tsenor::io {

/// A problem with a file a run reads or writes: one line, "<path>: <problem>".
class FileError : public std::runtime_error {
  using runtime_error::runtime_error;
};

/// What a path names, for comparing inputs with outputs: the device and inode of an existing file (links
/// followed), or, for a file that does not exist yet, the absolute path it will be created at.
struct FileIdentity {
  bool exists = false;
  dev_t device = 0;
  ino_t inode = 0;
  std::string resolved;  ///< a file that does not exist: the absolute path, links in its directory resolved
  bool operator==(const FileIdentity& other) const;
};
FileIdentity file_identity(const std::string& path);

/// Opens an existing regular file for reading (links followed) without ever blocking: a FIFO, socket, device or
/// directory is refused. Returns a file descriptor (O_CLOEXEC). Throws FileError naming `path`.
int open_input(const std::string& path);

/// An output path, checked before anything is read.
struct OutputTarget {
  std::string option;  ///< the option that named it ("--output"), for messages ("" for none)
  std::string path;    ///< as given
  std::string target;  ///< where the data goes: `path` with links followed
  bool device = false; ///< a character device or a standard stream: written in place, never replaced or removed
  int stream = -1;     ///< 1 or 2 when the path names this process's stdout or stderr (e.g. /dev/stdout)
  bool exists = false; ///< `target` is an existing regular file (or a device)
  FileIdentity identity;
};

/// Checks one output path (see the top of this file); throws FileError "<option> <path>: <problem>" (with an
/// empty option: "<path>: <problem>").
OutputTarget check_output(const std::string& option, const std::string& path);

/// Refuses an output that is also an input, or two outputs that are one file (two outputs to one character
/// device, such as /dev/null twice, are allowed). `inputs` holds (description, path) pairs, e.g.
/// ("--input", "W.npy") or ("shard of the --input index", "ck/model-00001-of-00002.safetensors").
void check_distinct(const std::vector<OutputTarget>& outputs,
                    const std::vector<std::pair<std::string, std::string>>& inputs);

/// Removes the temporary files TARGET.tsenor-tmp.<pid> of `output` that earlier runs were killed before removing: only
/// regular files owned by this user, that are none of `inputs`, and whose process <pid> no longer exists on this host,
/// and that no process holds locked (the writer locks its temporary file until the rename, which also covers runs in
/// another PID namespace or on another host). Returns a line for each file removed (and each one left alone because its
/// process still runs), for the caller to print.
std::vector<std::string> remove_stale_temporaries(const OutputTarget& output,
                                                  const std::vector<std::pair<std::string, std::string>>& inputs);

/// The temporary file of `target` for the process `pid`: TARGET.tsenor-tmp.<pid>.
std::string temporary_path(const std::string& target, long long pid);

/// The one writer of outputs. The creator (create = true) makes the temporary file exclusively and sizes it;
/// other MPI ranks attach to it by name (create = false) to write disjoint ranges. Until commit() the output
/// path is untouched; an uncommitted creator removes its temporary file on discard() or destruction. A
/// character-device output is written in place: nothing is created, renamed or removed.
class OutputFile {
 public:
  /// `pid`: the suffix of the temporary file (the creating process's id, shared by all ranks); `size`: the
  /// final size in bytes when known (the file is sized up front), 0 when the data is appended.
  OutputFile(const OutputTarget& output, long long pid, std::uint64_t size, bool create);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;
  /// Writes `bytes` bytes at `offset`.
  void write_at(std::uint64_t offset, const void* data, std::uint64_t bytes);
  /// Starts writing `bytes` bytes at `offset`, already written, to the disk without waiting (Linux; elsewhere
  /// nothing), so that commit's flush has only the last of the data left to wait for.
  void start_writeback(std::uint64_t offset, std::uint64_t bytes);
  /// Appends `bytes` bytes after the last byte written.
  void append(const void* data, std::uint64_t bytes) { write_at(next_, data, bytes); }
  /// Flushes and closes; the creator then renames the temporary file onto the output path.
  void commit();
  /// Closes without renaming; the creator removes the temporary file.
  void discard();
  const std::string& temporary() const { return temp_; }

 private:
  std::string shown_, target_, temp_;
  int fd_ = -1, slot_ = -1;  ///< slot_: where remove_temporaries_now finds temp_
  bool owner_ = false, device_ = false, done_ = false;
  std::uint64_t next_ = 0;
};

/// Writes `text` to `output` through an OutputFile and commits it.
void write_output(const OutputTarget& output, const std::string& text);

/// Removes the temporary files of every OutputFile still open in this process. Async-signal-safe: for a signal
/// handler that ends the process at once.
void remove_temporaries_now() noexcept;

}  // namespace tsenor::io
