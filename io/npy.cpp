#include "tsenor/io/npy.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>

#include <unistd.h>

#include "tsenor/float16.hpp"
#include "tsenor/io/detail/text.hpp"

namespace tsenor::io {

const char* dtype_name(NpyDType dtype) {
  switch (dtype) {
    case NpyDType::float16: return "float16";
    case NpyDType::float32: return "float32";
    case NpyDType::float64: return "float64";
    case NpyDType::uint8: return "uint8";
  }
  return "unknown";
}

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& problem) { throw NpyError(path + ": " + problem); }

using detail::shape_tuple_text;

// Text from the file ends up in messages: at most 40 characters of it.
std::string printable(const std::string& text) { return detail::printable(text, 40); }

struct ElementType {
  const char* descr;
  NpyDType dtype;
  std::size_t size;
  bool is_bool;
};

// numpy writes '|' for one-byte types; '<u1' is what some other writers produce for the same bytes.
constexpr ElementType supported_types[] = {
    {"<f2", NpyDType::float16, 2, false}, {"<f4", NpyDType::float32, 4, false},
    {"<f8", NpyDType::float64, 8, false}, {"|u1", NpyDType::uint8, 1, false},
    {"<u1", NpyDType::uint8, 1, false},   {"|b1", NpyDType::uint8, 1, true},
};

// `expected`: what the caller reads, for the message ("'<f2', '<f4' or '<f8'").
const ElementType& element_type(const std::string& descr, const std::string& path, const char* expected) {
  for (const ElementType& type : supported_types)
    if (descr == type.descr) return type;
  for (const ElementType& type : supported_types)
    if (descr.size() == 3 && descr[0] == '>' && descr.compare(1, 2, type.descr + 1) == 0)
      fail(path, "big-endian dtype '" + descr + "' is not supported; save it with a.astype('<" + descr.substr(1) +
                     "')");
  fail(path, "unsupported dtype '" + printable(descr) + "'; expected " + expected);
}

struct HeaderDict {
  std::string descr;
  bool fortran_order = false;
  std::vector<std::size_t> shape;
};

// The header is a Python dict literal, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }.
// Accepts exactly the literals such a header holds for the supported types, in any key order and spacing;
// everything else is malformed. Never reads past the text, whatever the text is.
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& path) : text_(text), path_(path) {}

  HeaderDict parse() {
    HeaderDict dict;
    bool has_descr = false, has_fortran_order = false, has_shape = false;
    expect('{');
    while (!accept('}')) {
      const std::string key = string_literal();
      expect(':');
      if (key == "descr") {
        once(has_descr, key);
        if (accept('[')) fail(path_, "unsupported dtype: structured (record) arrays are not supported");
        dict.descr = string_literal();
      } else if (key == "fortran_order") {
        once(has_fortran_order, key);
        dict.fortran_order = bool_literal();
      } else if (key == "shape") {
        once(has_shape, key);
        dict.shape = int_tuple();
      } else {
        fail(path_, "malformed header: unexpected key '" + printable(key) + "'");
      }
      if (!accept(',')) {
        expect('}');
        break;
      }
    }
    skip_space();
    if (pos_ != text_.size()) malformed("text after the closing '}'");
    if (!has_descr) missing("descr");
    if (!has_fortran_order) missing("fortran_order");
    if (!has_shape) missing("shape");
    return dict;
  }

 private:
  [[noreturn]] void malformed(const std::string& problem) const {
    fail(path_, "malformed header: " + problem + " at offset " + std::to_string(pos_));
  }
  [[noreturn]] void missing(const std::string& key) const {
    fail(path_, "malformed header: key '" + key + "' is missing");
  }
  void once(bool& seen, const std::string& key) const {
    if (seen) fail(path_, "malformed header: key '" + key + "' appears twice");
    seen = true;
  }
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool accept(char c) {
    skip_space();
    if (pos_ == text_.size() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  void expect(char c) {
    if (!accept(c)) malformed(std::string("expected '") + c + "'");
  }
  // Escapes never occur in the strings of a supported header, so a backslash is rejected, not interpreted.
  std::string string_literal() {
    skip_space();
    if (pos_ == text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) malformed("expected a string");
    const char quote = text_[pos_++];
    const std::size_t begin = pos_;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      const auto c = static_cast<unsigned char>(text_[pos_]);
      if (c == '\\' || c < 0x20) malformed("unsupported character in a string");
      ++pos_;
    }
    if (pos_ == text_.size()) malformed("unterminated string");
    return text_.substr(begin, pos_++ - begin);
  }
  bool bool_literal() {
    skip_space();
    for (const bool value : {true, false}) {
      const std::string word = value ? "True" : "False";
      const std::size_t end = pos_ + word.size();
      if (text_.compare(pos_, word.size(), word) == 0 &&
          (end == text_.size() || !std::isalnum(static_cast<unsigned char>(text_[end])))) {
        pos_ = end;
        return value;
      }
    }
    malformed("expected True or False");
  }
  std::size_t integer() {
    skip_space();
    if (pos_ == text_.size() || !std::isdigit(static_cast<unsigned char>(text_[pos_])))
      malformed("expected a non-negative integer");
    std::size_t value = 0;
    for (; pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_])); ++pos_) {
      const std::size_t digit = text_[pos_] - '0';
      if (value > (std::numeric_limits<std::size_t>::max() - digit) / 10)
        fail(path_, "shape has a dimension too large for size_t");
      value = value * 10 + digit;
    }
    return value;
  }
  std::vector<std::size_t> int_tuple() {
    std::vector<std::size_t> values;
    expect('(');
    while (!accept(')')) {
      values.push_back(integer());
      if (!accept(',')) {
        expect(')');
        break;
      }
    }
    return values;
  }

  const std::string& text_;
  const std::string& path_;
  std::size_t pos_ = 0;
};

struct Header {
  const ElementType* type;
  bool fortran_order;
  std::size_t rows, cols;
};

template <class Bits>
Bits load_le(const unsigned char* bytes) {
  Bits value = 0;
  for (std::size_t b = 0; b < sizeof(Bits); ++b) value |= static_cast<Bits>(bytes[b]) << (8 * b);
  return value;
}

void read_bytes(std::ifstream& in, void* dst, std::size_t count, const std::string& path) {
  if (count != 0 && !in.read(static_cast<char*>(dst), static_cast<std::streamsize>(count)))
    fail(path, "read error");
}

// Opens path, checks the header and that the data size matches the shape exactly, and leaves `in` at the data.
// Sizes are checked against the file before anything is allocated, so a lying header cannot trigger a huge
// allocation.
Header open_npy(std::ifstream& in, const std::string& path, const char* expected) {
  try {
    ::close(open_input(path));  // refuses a FIFO (which would block the open below forever), a device, a directory
  } catch (const FileError& e) {
    throw NpyError(e.what());
  }
  in.open(path, std::ios::binary);
  if (!in) fail(path, std::string("cannot open: ") + std::strerror(errno));
  in.seekg(0, std::ios::end);
  const auto file_size = static_cast<std::uint64_t>(in.tellg());
  in.seekg(0);

  unsigned char prefix[12];
  if (file_size < 10) fail(path, "too short to be a .npy file (" + std::to_string(file_size) + " bytes)");
  read_bytes(in, prefix, 8, path);
  if (std::memcmp(prefix, "\x93NUMPY", 6) != 0) fail(path, "not a .npy file (bad magic string)");
  const int major = prefix[6], minor = prefix[7];
  if (major < 1 || major > 3 || minor != 0)
    fail(path, "unsupported .npy format version " + std::to_string(major) + "." + std::to_string(minor));
  const std::size_t length_size = major == 1 ? 2 : 4;
  if (file_size < 8 + length_size) fail(path, "truncated header");
  read_bytes(in, prefix + 8, length_size, path);
  const std::uint64_t header_length =
      length_size == 2 ? load_le<std::uint16_t>(prefix + 8) : load_le<std::uint32_t>(prefix + 8);
  const std::uint64_t data_offset = 8 + length_size + header_length;
  if (data_offset > file_size)
    fail(path, "header of " + std::to_string(header_length) + " bytes runs past the end of the file (" +
                   std::to_string(file_size) + " bytes): truncated file or wrong header length");
  std::string text(header_length, '\0');
  read_bytes(in, text.data(), text.size(), path);

  const HeaderDict dict = HeaderParser(text, path).parse();
  const ElementType& type = element_type(dict.descr, path, expected);
  if (dict.shape.size() != 2) fail(path, "shape " + shape_tuple_text(dict.shape) + " is not 2-D");
  const Header header{&type, dict.fortran_order, dict.shape[0], dict.shape[1]};

  if (header.cols != 0 && header.rows > std::numeric_limits<std::size_t>::max() / header.cols / type.size)
    fail(path, "shape " + shape_tuple_text(dict.shape) + " is too large to address");
  const std::uint64_t needed = header.rows * header.cols * type.size, present = file_size - data_offset;
  if (needed > present)
    fail(path, "data truncated: shape " + shape_tuple_text(dict.shape) + " of " + dtype_name(type.dtype) + " needs " +
                   std::to_string(needed) + " bytes, the file has " + std::to_string(present));
  if (needed < present)
    fail(path, std::to_string(present - needed) + " bytes after the data: header and data disagree");
  return header;
}

// Fortran order stores each column contiguously: element (i, j) is at j * rows + i. Blocked so that both the
// reads and the writes stay in cache for large matrices.
template <class T>
void fortran_to_row_major(std::vector<T>& values, std::size_t rows, std::size_t cols) {
  constexpr std::size_t block = 64;
  std::vector<T> out(values.size());
  for (std::size_t i0 = 0; i0 < rows; i0 += block)
    for (std::size_t j0 = 0; j0 < cols; j0 += block)
      for (std::size_t i = i0; i < std::min(rows, i0 + block); ++i)
        for (std::size_t j = j0; j < std::min(cols, j0 + block); ++j) out[i * cols + j] = values[j * rows + i];
  values.swap(out);
}

// Reads the data into a vector of T and decodes it in place from little-endian Bits, so a large matrix needs no
// second buffer (except for the transpose of a Fortran-order file).
template <class T, class Bits>
std::vector<T> read_elements(std::ifstream& in, const Header& header, const std::string& path) {
  static_assert(sizeof(T) == sizeof(Bits));
  std::vector<T> values(header.rows * header.cols);
  read_bytes(in, values.data(), values.size() * sizeof(T), path);
  const auto* bytes = reinterpret_cast<const unsigned char*>(values.data());
  for (std::size_t k = 0; k < values.size(); ++k) {
    const Bits bits = load_le<Bits>(bytes + k * sizeof(T));
    std::memcpy(&values[k], &bits, sizeof(T));
  }
  if (header.fortran_order) fortran_to_row_major(values, header.rows, header.cols);
  return values;
}

// numpy.save's version 1.0 header, byte for byte: sorted keys, 21 - len(str(rows)) spare spaces so the first axis
// can grow in place, then spaces and '\n' up to a multiple of 64 (a whole 64 when already aligned, as numpy's
// formula gives).
std::string npy_header_u8(std::size_t rows, std::size_t cols) {
  const std::string rows_text = std::to_string(rows);
  std::string dict = "{'descr': '|u1', 'fortran_order': False, 'shape': (" + rows_text + ", " +
                     std::to_string(cols) + "), }";
  dict.append(21 - rows_text.size(), ' ');
  dict.append(64 - (10 + dict.size() + 1) % 64, ' ');
  dict += '\n';
  std::string header("\x93NUMPY\x01\x00", 8);
  header += static_cast<char>(dict.size() & 0xff);
  header += static_cast<char>(dict.size() >> 8);
  return header + dict;
}

}  // namespace

Matrix read_npy_matrix(const std::string& path,
                       const std::function<void(std::size_t rows, std::size_t cols, NpyDType dtype)>& on_header) {
  std::ifstream in;
  const Header header = open_npy(in, path, "float scores ('<f2', '<f4' or '<f8')");
  if (on_header && header.type->dtype != NpyDType::uint8) on_header(header.rows, header.cols, header.type->dtype);
  Matrix matrix;
  matrix.rows = header.rows;
  matrix.cols = header.cols;
  matrix.stored_dtype = header.type->dtype;
  switch (header.type->dtype) {
    case NpyDType::float16: {
      const auto halves = read_elements<std::uint16_t, std::uint16_t>(in, header, path);
      matrix.f32.resize(halves.size());
      std::transform(halves.begin(), halves.end(), matrix.f32.begin(), float16_to_float);
      break;
    }
    case NpyDType::float32: matrix.f32 = read_elements<float, std::uint32_t>(in, header, path); break;
    case NpyDType::float64: matrix.f64 = read_elements<double, std::uint64_t>(in, header, path); break;
    case NpyDType::uint8:
      fail(path, std::string("holds a mask ('") + header.type->descr +
                     "'), expected float scores ('<f2', '<f4' or '<f8')");
  }
  return matrix;
}

std::vector<std::uint8_t> read_npy_mask(const std::string& path, std::size_t& rows, std::size_t& cols) {
  std::ifstream in;
  const Header header = open_npy(in, path, "a uint8 or bool mask ('|u1' or '|b1')");
  if (header.type->dtype != NpyDType::uint8)
    fail(path, std::string("holds ") + dtype_name(header.type->dtype) + " ('" + header.type->descr +
                   "'), expected a uint8 or bool mask ('|u1' or '|b1')");
  std::vector<std::uint8_t> mask = read_elements<std::uint8_t, std::uint8_t>(in, header, path);
  if (header.type->is_bool)
    for (std::uint8_t& value : mask) value = value != 0;
  rows = header.rows;
  cols = header.cols;
  return mask;
}

void write_npy_u8(OutputFile& file, std::size_t rows, std::size_t cols, const std::uint8_t* data) {
  if (cols != 0 && rows > std::numeric_limits<std::size_t>::max() / cols)
    throw NpyError("shape (" + std::to_string(rows) + ", " + std::to_string(cols) + ") is too large to address");
  const std::string header = npy_header_u8(rows, cols);
  file.append(header.data(), header.size());
  file.append(data, rows * cols);
}

void write_npy_u8(const std::string& path, std::size_t rows, std::size_t cols, const std::uint8_t* data) {
  try {
    OutputFile file(check_output("", path), ::getpid(), 0, true);
    write_npy_u8(file, rows, cols, data);
    file.commit();
  } catch (const FileError& e) {
    throw NpyError(e.what());
  }
}

}  // namespace tsenor::io
