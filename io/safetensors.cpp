#include "tsenor/io/safetensors.hpp"

#include "tsenor/float16.hpp"
#include "tsenor/io/detail/text.hpp"
#include "tsenor/io/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace tsenor::io {

namespace {

using nlohmann::json;

struct DTypeRow {
  SafetensorsDType dtype;
  const char* name;
  std::size_t size;
};
constexpr DTypeRow dtype_table[] = {
    {SafetensorsDType::F64, "F64", 8},         {SafetensorsDType::F32, "F32", 4},
    {SafetensorsDType::F16, "F16", 2},         {SafetensorsDType::BF16, "BF16", 2},
    {SafetensorsDType::I64, "I64", 8},         {SafetensorsDType::I32, "I32", 4},
    {SafetensorsDType::I16, "I16", 2},         {SafetensorsDType::I8, "I8", 1},
    {SafetensorsDType::U64, "U64", 8},         {SafetensorsDType::U32, "U32", 4},
    {SafetensorsDType::U16, "U16", 2},         {SafetensorsDType::U8, "U8", 1},
    {SafetensorsDType::BOOL, "BOOL", 1},       {SafetensorsDType::F8_E4M3, "F8_E4M3", 1},
    {SafetensorsDType::F8_E5M2, "F8_E5M2", 1},
};

// The largest header accepted, as in the reference implementation: a bigger one is a lie or an attack.
constexpr std::uint64_t max_header_length = 100000000;

using detail::shape_text;

// Text from a file ends up in messages: at most 60 characters of it.
std::string printable(const std::string& text) { return detail::printable(text, 60); }

// A library message that may quote the file's bytes (nlohmann's parse errors do): printable ASCII only.
std::string sanitized(const std::string& text) { return detail::printable(text, 200); }

[[noreturn]] void fail(const std::string& path, const std::string& problem) {
  throw SafetensorsError(path + ": " + problem);
}
[[noreturn]] void fail_tensor(const std::string& path, const std::string& name, const std::string& problem) {
  throw SafetensorsError(path + ": tensor '" + printable(name) + "': " + problem);
}

// A SAX pass before building the DOM: bounds the nesting (a header is at most 3 deep: object, tensor object,
// shape array), and finds duplicate keys, which the DOM would silently merge. Returning false stops parsing.
class HeaderShapeCheck : public nlohmann::json_sax<json> {
 public:
  std::string problem;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    keys_.emplace_back();
    return enter();
  }
  bool key(string_t& k) override {
    if (!keys_.back().insert(k).second) {
      problem = "duplicate key '" + printable(k) + "' in the header";
      return false;
    }
    return true;
  }
  bool end_object() override {
    keys_.pop_back();
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override {
    keys_.emplace_back();
    return enter();
  }
  bool end_array() override {
    keys_.pop_back();
    --depth_;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    problem = "malformed JSON header: " + sanitized(e.what());
    return false;
  }

 private:
  bool enter() {
    if (++depth_ > max_depth) {
      problem = "malformed header: nested deeper than " + std::to_string(max_depth) + " levels";
      return false;
    }
    return true;
  }
  static constexpr int max_depth = 3;
  int depth_ = 0;
  std::vector<std::set<std::string>> keys_;
};

json parse_json_checked(const std::string& text, const std::string& path) {
  HeaderShapeCheck check;
  const bool ok = json::sax_parse(text, &check, json::input_format_t::json, /*strict=*/true);
  if (!ok) fail(path, check.problem.empty() ? "malformed JSON header" : check.problem);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    fail(path, "malformed JSON header: " + sanitized(e.what()));
  }
}

bool as_u64(const json& v, std::uint64_t& out) {
  if (v.is_number_unsigned()) {
    out = v.get<std::uint64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) {
    out = static_cast<std::uint64_t>(v.get<std::int64_t>());
    return true;
  }
  return false;
}

TensorInfo parse_tensor(const std::string& name, const json& entry, std::uint64_t data_size, const std::string& path) {
  if (!entry.is_object()) fail_tensor(path, name, "header entry is not an object");
  TensorInfo t;
  t.name = name;
  bool has_dtype = false, has_shape = false, has_offsets = false;
  for (auto it = entry.begin(); it != entry.end(); ++it) {
    const std::string& key = it.key();
    const json& v = it.value();
    if (key == "dtype") {
      if (!v.is_string()) fail_tensor(path, name, "dtype is not a string");
      const std::string d = v.get<std::string>();
      const DTypeRow* row = nullptr;
      for (const DTypeRow& r : dtype_table)
        if (d == r.name) row = &r;
      if (!row) fail_tensor(path, name, "unknown dtype '" + printable(d) + "'");
      t.dtype = row->dtype;
      has_dtype = true;
    } else if (key == "shape") {
      if (!v.is_array()) fail_tensor(path, name, "shape is not an array");
      for (const json& d : v) {
        std::uint64_t extent = 0;
        if (!as_u64(d, extent)) fail_tensor(path, name, "shape holds something other than a non-negative integer");
        t.shape.push_back(extent);
      }
      has_shape = true;
    } else if (key == "data_offsets") {
      if (!v.is_array() || v.size() != 2 || !as_u64(v[0], t.begin) || !as_u64(v[1], t.end))
        fail_tensor(path, name, "data_offsets is not a pair of non-negative integers");
      has_offsets = true;
    } else {
      fail_tensor(path, name, "unexpected key '" + printable(key) + "'");
    }
  }
  if (!has_dtype) fail_tensor(path, name, "dtype is missing");
  if (!has_shape) fail_tensor(path, name, "shape is missing");
  if (!has_offsets) fail_tensor(path, name, "data_offsets is missing");
  if (t.begin > t.end)
    fail_tensor(path, name, "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) + "] are reversed");
  if (t.end > data_size)
    fail_tensor(path, name, "data_offsets end at byte " + std::to_string(t.end) + " of the data section, which has " +
                                std::to_string(data_size) + " bytes (offsets out of range, or the file is truncated)");
  // product(shape) × element size, without overflow.
  std::uint64_t bytes = dtype_size(t.dtype);
  for (std::uint64_t extent : t.shape) {
    if (extent != 0 && bytes > std::numeric_limits<std::uint64_t>::max() / extent)
      fail_tensor(path, name, "shape " + shape_text(t.shape) + " overflows 64 bits");
    bytes *= extent;
  }
  if (bytes != t.end - t.begin)
    fail_tensor(path, name, std::string("dtype ") + dtype_name(t.dtype) + " and shape " + shape_text(t.shape) +
                                " need " + std::to_string(bytes) + " bytes, but data_offsets span " +
                                std::to_string(t.end - t.begin));
  return t;
}

std::uint64_t read_le64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int k = 7; k >= 0; --k) v = (v << 8) | p[k];
  return v;
}

std::string errno_text() { return std::strerror(errno); }

}  // namespace

const char* dtype_name(SafetensorsDType d) {
  for (const DTypeRow& r : dtype_table)
    if (r.dtype == d) return r.name;
  return "?";
}
std::size_t dtype_size(SafetensorsDType d) {
  for (const DTypeRow& r : dtype_table)
    if (r.dtype == d) return r.size;
  return 0;
}
bool is_prunable(SafetensorsDType d) {
  return d == SafetensorsDType::F32 || d == SafetensorsDType::F16 || d == SafetensorsDType::BF16;
}

std::uint64_t TensorInfo::elements() const {
  std::uint64_t n = 1;
  for (std::uint64_t e : shape) n *= e;  // checked against the byte size when parsed
  return n;
}

SafetensorsHeader parse_safetensors_header(const std::uint8_t* prefix, std::size_t prefix_size,
                                           std::uint64_t file_size, const std::string& path) {
  if (file_size < 8 || prefix_size < 8)
    fail(path, "truncated: " + std::to_string(file_size) + " bytes, shorter than the 8-byte header length");
  SafetensorsHeader h;
  h.header_length = read_le64(prefix);
  if (h.header_length > max_header_length)
    fail(path, "header length " + std::to_string(h.header_length) + " exceeds the limit of " +
                   std::to_string(max_header_length) + " bytes (not a safetensors file?)");
  if (h.header_length > file_size - 8)
    fail(path, "header length " + std::to_string(h.header_length) + " runs past the end of the file (" +
                   std::to_string(file_size) + " bytes): truncated, or the length is wrong");
  if (h.header_length > prefix_size - 8) fail(path, "truncated while reading the header");
  h.data_start = 8 + h.header_length;
  const std::uint64_t data_size = file_size - h.data_start;
  const std::string text(reinterpret_cast<const char*>(prefix) + 8, static_cast<std::size_t>(h.header_length));
  if (text.empty() || text[0] != '{') fail(path, "malformed header: the JSON does not start with '{'");
  const json root = parse_json_checked(text, path);
  if (!root.is_object()) fail(path, "malformed header: not a JSON object");
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it.value().is_object()) fail(path, "malformed header: __metadata__ is not an object");
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        if (!m.value().is_string())
          fail(path, "malformed header: __metadata__ value of '" + printable(m.key()) + "' is not a string");
        h.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    h.tensors.push_back(parse_tensor(it.key(), it.value(), data_size, path));
  }
  std::sort(h.tensors.begin(), h.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : (a.end != b.end ? a.end < b.end : a.name < b.name);
  });
  // The tensors must tile the data section: no overlap, no hole, nothing after the last one.
  std::uint64_t at = 0;
  const TensorInfo* previous = nullptr;
  for (const TensorInfo& t : h.tensors) {
    if (t.begin < at)
      fail_tensor(path, t.name, "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                                    "] overlap tensor '" + printable(previous->name) + "'");
    if (t.begin > at)
      fail_tensor(path, t.name, "a hole of " + std::to_string(t.begin - at) + " bytes precedes its data (offset " +
                                    std::to_string(t.begin) + ")");
    at = t.end;
    previous = &t;
  }
  if (at != data_size)
    fail(path, std::to_string(data_size - at) + " bytes after the last tensor's data are not part of any tensor");
  return h;
}

std::map<std::string, std::string> parse_safetensors_index(const std::string& json_text, const std::string& path) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {
    fail(path, "malformed JSON: " + sanitized(e.what()));
  }
  if (!root.is_object() || !root.contains("weight_map") || !root["weight_map"].is_object())
    fail(path, "not a safetensors index: no \"weight_map\" object");
  std::map<std::string, std::string> map;
  for (auto it = root["weight_map"].begin(); it != root["weight_map"].end(); ++it) {
    if (!it.value().is_string()) fail_tensor(path, it.key(), "weight_map value is not a file name");
    const std::string file = it.value().get<std::string>();
    if (file.empty() || file[0] == '/' || file.find("..") != std::string::npos)
      fail_tensor(path, it.key(), "shard name '" + printable(file) + "' is not a file next to the index");
    map[it.key()] = file;
  }
  if (map.empty()) fail(path, "the weight_map is empty");
  return map;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  try {
    fd_ = open_input(path);
  } catch (const FileError& e) {
    throw SafetensorsError(e.what());
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    ::close(fd_);
    fail(path, "cannot stat: " + errno_text());
  }
  file_size_ = static_cast<std::uint64_t>(st.st_size);
  try {
    std::uint8_t length_bytes[8];
    std::uint64_t have = file_size_ < 8 ? file_size_ : 8;
    if (::pread(fd_, length_bytes, have, 0) != static_cast<ssize_t>(have)) fail(path, "cannot read: " + errno_text());
    std::vector<std::uint8_t> prefix(length_bytes, length_bytes + have);
    if (have == 8) {
      const std::uint64_t length = read_le64(length_bytes);
      if (length <= max_header_length && length <= file_size_ - 8) {
        prefix.resize(8 + length);
        if (length > 0 && ::pread(fd_, prefix.data() + 8, length, 8) != static_cast<ssize_t>(length))
          fail(path, "cannot read the header: " + errno_text());
      }
    }
    header_ = parse_safetensors_header(prefix.data(), prefix.size(), file_size_, path);
  } catch (...) {
    ::close(fd_);
    throw;
  }
  for (std::size_t k = 0; k < header_.tensors.size(); ++k) by_name_[header_.tensors[k].name] = k;
}

SafetensorsFile::~SafetensorsFile() {
  if (fd_ >= 0) ::close(fd_);
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  const auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &header_.tensors[it->second];
}

void SafetensorsFile::read(const TensorInfo& t, std::uint64_t offset, std::uint64_t bytes, void* out) const {
  if (offset > t.bytes() || bytes > t.bytes() - offset) fail_tensor(path_, t.name, "read past the tensor's end");
  char* dst = static_cast<char*>(out);
  std::uint64_t at = header_.data_start + t.begin + offset;
  while (bytes > 0) {
    const std::size_t step = bytes > (1u << 30) ? (1u << 30) : static_cast<std::size_t>(bytes);
    const ssize_t got = ::pread(fd_, dst, step, static_cast<off_t>(at));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) fail_tensor(path_, t.name, "read error: " + errno_text());
    if (got == 0) fail_tensor(path_, t.name, "the file ended inside the tensor's data (truncated while reading?)");
    dst += got;
    at += static_cast<std::uint64_t>(got);
    bytes -= static_cast<std::uint64_t>(got);
  }
}

void SafetensorsFile::prefetch(const TensorInfo& t, std::uint64_t offset, std::uint64_t bytes) const {
  if (offset > t.bytes() || bytes > t.bytes() - offset) return;
  (void)::posix_fadvise(fd_, static_cast<off_t>(header_.data_start + t.begin + offset), static_cast<off_t>(bytes),
                        POSIX_FADV_WILLNEED);
}

namespace {

bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}
bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

Checkpoint::Checkpoint(const std::string& path) : path_(path) {
  std::string index;
  std::string single;
  if (is_directory(path)) {
    const std::string dir = ends_with(path, "/") ? path : path + "/";
    if (exists(dir + "model.safetensors.index.json"))
      index = dir + "model.safetensors.index.json";
    else if (exists(dir + "model.safetensors"))
      single = dir + "model.safetensors";
    else
      fail(path, "directory holds neither model.safetensors.index.json nor model.safetensors");
  } else if (ends_with(path, ".json")) {
    index = path;
  } else {
    single = path;
  }
  if (!single.empty()) {
    files_.push_back(std::make_unique<SafetensorsFile>(single));
    for (const TensorInfo& t : files_.back()->header().tensors) tensors_.push_back({files_.back().get(), &t});
  } else {
    index_ = index;
    try {
      ::close(open_input(index));  // a FIFO or directory named .json is refused, never waited on
    } catch (const FileError& e) {
      throw SafetensorsError(e.what());
    }
    std::ifstream in(index, std::ios::binary);
    if (!in) fail(index, "cannot open: " + errno_text());
    std::stringstream text;
    text << in.rdbuf();
    const auto weight_map = parse_safetensors_index(text.str(), index);
    const auto slash = index.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "" : index.substr(0, slash + 1);
    std::map<std::string, SafetensorsFile*> shards;
    for (const auto& [name, shard] : weight_map) {
      if (shards.count(shard)) continue;
      if (!exists(dir + shard))
        fail(index, "shard '" + printable(shard) + "' (holding tensor '" + printable(name) + "') is missing: " +
                        dir + shard + " does not exist");
      files_.push_back(std::make_unique<SafetensorsFile>(dir + shard));
      shards[shard] = files_.back().get();
    }
    for (const auto& [name, shard] : weight_map) {
      const SafetensorsFile* file = shards[shard];
      const TensorInfo* info = file->find(name);
      if (!info) fail(file->path(), "tensor '" + printable(name) + "' is listed in " + index + " but not in this shard");
      tensors_.push_back({file, info});
    }
  }
  std::sort(tensors_.begin(), tensors_.end(),
            [](const CheckpointTensor& a, const CheckpointTensor& b) { return a.info->name < b.info->name; });
  for (std::size_t k = 1; k < tensors_.size(); ++k)
    if (tensors_[k].info->name == tensors_[k - 1].info->name)
      fail(path, "tensor '" + printable(tensors_[k].info->name) + "' appears twice");
}

std::uint64_t Checkpoint::data_bytes() const {
  std::uint64_t total = 0;
  for (const auto& f : files_) total += f->file_size() - f->header().data_start;
  return total;
}

void to_float(SafetensorsDType dtype, const void* in, std::size_t n, float* out) {
  const auto* bytes = static_cast<const std::uint8_t*>(in);
  switch (dtype) {
    case SafetensorsDType::F32: std::memcpy(out, in, n * 4); return;
    case SafetensorsDType::BF16:
      for (std::size_t k = 0; k < n; ++k)
        out[k] = bfloat16_to_float(static_cast<std::uint16_t>(bytes[2 * k] | (bytes[2 * k + 1] << 8)));
      return;
    case SafetensorsDType::F16:
      for (std::size_t k = 0; k < n; ++k)
        out[k] = float16_to_float(static_cast<std::uint16_t>(bytes[2 * k] | (bytes[2 * k + 1] << 8)));
      return;
    default: throw SafetensorsError(std::string("to_float: dtype ") + dtype_name(dtype) + " is not F32, F16 or BF16");
  }
}

void from_float(SafetensorsDType dtype, const float* in, std::size_t n, void* out) {
  auto* bytes = static_cast<std::uint8_t*>(out);
  const auto put = [&](std::uint16_t (*encode)(float)) {
    for (std::size_t k = 0; k < n; ++k) {
      const std::uint16_t h = encode(in[k]);
      bytes[2 * k] = static_cast<std::uint8_t>(h & 0xffu);
      bytes[2 * k + 1] = static_cast<std::uint8_t>(h >> 8);
    }
  };
  switch (dtype) {
    case SafetensorsDType::F32: std::memcpy(out, in, n * 4); return;
    case SafetensorsDType::BF16: put(float_to_bfloat16); return;
    case SafetensorsDType::F16: put(float_to_float16); return;
    default: throw SafetensorsError(std::string("from_float: dtype ") + dtype_name(dtype) + " is not F32, F16 or BF16");
  }
}

SafetensorsLayout plan_safetensors(const std::vector<OutputTensor>& tensors,
                                   const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  SafetensorsLayout layout;
  std::uint64_t at = 0;
  std::vector<std::uint64_t> relative;
  for (const OutputTensor& t : tensors) {
    std::uint64_t bytes = dtype_size(t.dtype);
    for (std::uint64_t e : t.shape) bytes *= e;
    header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {at, at + bytes}}};
    relative.push_back(at);
    at += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-byte aligned
  std::string length(8, '\0');
  for (int k = 0; k < 8; ++k) length[k] = static_cast<char>((static_cast<std::uint64_t>(text.size()) >> (8 * k)) & 0xff);
  layout.header = length + text;
  for (std::uint64_t r : relative) layout.offsets.push_back(layout.header.size() + r);
  layout.file_size = layout.header.size() + at;
  return layout;
}

}  // namespace tsenor::io
