#pragma once
// Reading and writing safetensors checkpoints, one tensor (or one byte range of it) at a time.
//
// Layout of a safetensors file: an 8-byte little-endian header length L, L bytes of JSON, then the data section.
// The JSON maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the data
// section) plus an optional "__metadata__" object of strings. The reader accepts a file only if the tensors tile
// the data section exactly: sorted by offset, each begins where the previous one ends, the first at 0 and the
// last at the end of the file (no holes, no overlaps, no trailing bytes), and each one's byte size equals
// product(shape) × element size. The header is parsed with nlohmann::json after a SAX pass that bounds its
// nesting and rejects duplicate names, so nothing in a hostile header can exhaust the stack or hide a tensor.
//
// Nothing is memory-mapped: data is read with pread into the caller's buffer, so the resident memory of a run is
// what the caller allocates, not the size of the checkpoint. Every problem throws SafetensorsError with one line
// "<file>: tensor '<name>': <problem>" (or "<file>: <problem>" when it is not about one tensor).
//
// A sharded checkpoint is a directory holding model.safetensors.index.json ({"weight_map": {name: shard file}})
// and the shards it names; open_checkpoint reads either form.
//
// The host is assumed little-endian (as safetensors itself is): checked at compile time.

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace tsenor::io {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the safetensors reader assumes a little-endian host");

class SafetensorsError : public std::runtime_error {
  using runtime_error::runtime_error;
};

/// The element types of the safetensors format and their sizes in bytes.
enum class SafetensorsDType { F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL, F8_E4M3, F8_E5M2 };
const char* dtype_name(SafetensorsDType);
std::size_t dtype_size(SafetensorsDType);
/// True for F32, F16 and BF16: the types whose weights the tool converts (exactly) to float and prunes.
bool is_prunable(SafetensorsDType);

struct TensorInfo {
  std::string name;
  SafetensorsDType dtype = SafetensorsDType::F32;
  std::vector<std::uint64_t> shape;
  std::uint64_t begin = 0, end = 0;  ///< byte range in the data section
  std::uint64_t elements() const;
  std::uint64_t bytes() const { return end - begin; }
};

/// A parsed header: tensors sorted by data offset, and the metadata strings.
struct SafetensorsHeader {
  std::uint64_t header_length = 0;  ///< L, the JSON's length in bytes
  std::uint64_t data_start = 0;     ///< 8 + L
  std::vector<TensorInfo> tensors;
  std::map<std::string, std::string> metadata;
};

/// Parses and validates the start of a safetensors file: `prefix` holds its first `prefix_size` bytes (at least
/// the 8-byte length and the JSON, when the file is well formed) and `file_size` is the size of the whole file.
/// Pure function, no I/O: also what the fuzzer drives. Throws SafetensorsError naming `path`.
SafetensorsHeader parse_safetensors_header(const std::uint8_t* prefix, std::size_t prefix_size,
                                           std::uint64_t file_size, const std::string& path);

/// Parses the weight map of a model.safetensors.index.json: tensor name -> shard file name (relative to the
/// index's directory; absolute names and '..' are rejected). Throws SafetensorsError naming `path`.
std::map<std::string, std::string> parse_safetensors_index(const std::string& json_text, const std::string& path);

/// One open safetensors file.
class SafetensorsFile {
 public:
  /// Opens and validates `path` (header and data section size). Throws SafetensorsError.
  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const SafetensorsHeader& header() const { return header_; }
  std::uint64_t file_size() const { return file_size_; }
  /// The tensor named `name`, or nullptr.
  const TensorInfo* find(const std::string& name) const;
  /// Reads `bytes` bytes of `tensor`'s data starting `offset` bytes into it. Throws SafetensorsError.
  void read(const TensorInfo& tensor, std::uint64_t offset, std::uint64_t bytes, void* out) const;
  /// Asks the kernel to start reading those bytes into the page cache now (posix_fadvise WILLNEED), so that a
  /// later read() finds them there; a hint: never fails.
  void prefetch(const TensorInfo& tensor, std::uint64_t offset, std::uint64_t bytes) const;

 private:
  std::string path_;
  int fd_ = -1;
  std::uint64_t file_size_ = 0;
  SafetensorsHeader header_;
  std::map<std::string, std::size_t> by_name_;
};

/// A checkpoint: one safetensors file, or the shards of an index. Tensors are listed by name.
struct CheckpointTensor {
  const SafetensorsFile* file;
  const TensorInfo* info;
};
class Checkpoint {
 public:
  /// `path`: a .safetensors file, a model.safetensors.index.json, or a directory holding either an index or
  /// exactly one model.safetensors. Throws SafetensorsError (a missing shard names the shard and a tensor).
  explicit Checkpoint(const std::string& path);
  const std::string& path() const { return path_; }
  /// The index file (model.safetensors.index.json) of a sharded checkpoint; "" for a single file.
  const std::string& index() const { return index_; }
  /// Every tensor, sorted by name.
  const std::vector<CheckpointTensor>& tensors() const { return tensors_; }
  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }
  /// Bytes of all data sections together.
  std::uint64_t data_bytes() const;

 private:
  std::string path_, index_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::vector<CheckpointTensor> tensors_;
};

/// Converts n little-endian elements of a prunable dtype to float, exactly (F16 and BF16 widen without rounding).
void to_float(SafetensorsDType dtype, const void* in, std::size_t n, float* out);

/// Converts n floats to little-endian elements of a prunable dtype, rounding to nearest even (F32 copies).
void from_float(SafetensorsDType dtype, const float* in, std::size_t n, void* out);

/// What an output file will hold, and where: computed from names, dtypes and shapes alone, so every MPI rank
/// computes the same layout without communicating. Tensors are placed in the order given.
struct OutputTensor {
  std::string name;
  SafetensorsDType dtype = SafetensorsDType::U8;
  std::vector<std::uint64_t> shape;
};
struct SafetensorsLayout {
  std::string header;                  ///< the 8-byte length and the JSON, padded with spaces to a multiple of 8
  std::vector<std::uint64_t> offsets;  ///< absolute file offset of each tensor's data, in input order
  std::uint64_t file_size = 0;
};
SafetensorsLayout plan_safetensors(const std::vector<OutputTensor>& tensors,
                                   const std::map<std::string, std::string>& metadata);

}  // namespace tsenor::io
