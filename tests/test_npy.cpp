// Tests of the .npy reader and writer. Two sources of files:
//  - files built byte by byte here, including malformed ones, which must throw NpyError and never crash;
//  - files written by numpy itself (tests/npy_fixtures.py), read from the directory named by the environment
//    variable TSENOR_NPY_FIXTURES. Without the variable those cases are skipped; with it set to a directory
//    that does not exist they fail, so a broken fixture step cannot pass silently.
#include "tsenor/io/npy.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <unistd.h>

#include "support/message_of.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
using tsenor::io::NpyDType;
using tsenor::io::NpyError;
using tsenor::test::TempDir;

namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_all(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A .npy file with the given header dict and data; the header length field is correct, no padding is added.
std::string npy_bytes(const std::string& dict, const std::string& data, int major = 1) {
  std::string bytes = std::string("\x93NUMPY", 6) + static_cast<char>(major) + '\0';
  const int length_size = major == 1 ? 2 : 4;
  for (int b = 0; b < length_size; ++b) bytes += static_cast<char>((dict.size() >> (8 * b)) & 0xff);
  return bytes + dict + data;
}

template <class T>
std::string raw(const std::vector<T>& values) {  // host order: the tests run on little-endian machines
  return {reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T)};
}

template <class F>
std::string error_of(F f) {
  return tsenor::test::message_of<NpyError>(f);
}

// Same formulas as tests/npy_fixtures.py.
double score(std::size_t i, std::size_t j, double offset) { return 8.0 * i + j + offset; }
std::uint8_t mask_pattern(std::size_t i, std::size_t j) { return (3 * i + j) % 5 == 0; }

}  // namespace

TEST_CASE("write_npy_u8 round-trips through read_npy_mask with numpy's 64-byte aligned header") {
  const TempDir dir;
  const std::string path = dir.file("mask.npy");
  for (const auto& shape : std::vector<std::pair<std::size_t, std::size_t>>{{3, 5}, {1, 1}, {0, 4}, {4, 0}, {17, 33}}) {
    const std::size_t rows = shape.first, cols = shape.second;  // not a structured binding: CAPTURE is a lambda
    CAPTURE(rows);
    CAPTURE(cols);
    std::vector<std::uint8_t> data(rows * cols);
    for (std::size_t k = 0; k < data.size(); ++k) data[k] = static_cast<std::uint8_t>(k * 37 + rows);
    tsenor::io::write_npy_u8(path, rows, cols, data.data());  // overwrites the previous shape's file

    const std::string bytes = read_all(path);
    const std::size_t data_offset = bytes.size() - data.size();
    CHECK(data_offset % 64 == 0);
    CHECK(bytes[data_offset - 1] == '\n');
    std::size_t read_rows = 99, read_cols = 99;
    CHECK(tsenor::io::read_npy_mask(path, read_rows, read_cols) == data);
    CHECK(read_rows == rows);
    CHECK(read_cols == cols);
  }
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);  // no temporary left
}

TEST_CASE("write_npy_u8 into a missing directory throws and leaves no file") {
  const TempDir dir;
  const std::string path = dir.file("missing/mask.npy");
  const std::uint8_t data[2] = {1, 0};
  const std::string message = error_of([&] { tsenor::io::write_npy_u8(path, 1, 2, data); });
  CHECK(message.rfind(path + ": ", 0) == 0);
  CHECK(!fs::exists(path));
  CHECK(fs::is_empty(dir.path));
}

TEST_CASE("read_npy_matrix accepts any key order and spacing, versions 1 to 3, and Fortran order") {
  const TempDir dir;
  const std::string path = dir.file("scores.npy");
  const std::vector<float> column_major = {1, 4, 2, 5, 3, 6};  // [[1, 2, 3], [4, 5, 6]]
  for (const int major : {1, 2, 3}) {
    CAPTURE(major);
    write_all(path, npy_bytes("{ \"shape\" :(2,3,) ,\n'fortran_order':True,'descr':\t'<f4'}  \n", raw(column_major),
                              major));
    const tsenor::io::Matrix m = tsenor::io::read_npy_matrix(path);
    CHECK(m.rows == 2);
    CHECK(m.cols == 3);
    CHECK(m.stored_dtype == NpyDType::float32);
    CHECK(m.f32 == std::vector<float>{1, 2, 3, 4, 5, 6});
    CHECK(m.f64.empty());
  }
}

TEST_CASE("float16 widens to float exactly, subnormals, infinities and NaN included") {
  const TempDir dir;
  const std::string path = dir.file("halves.npy");
  const std::vector<std::uint16_t> halves = {0x0001, 0x03ff, 0x0400, 0x3c00, 0x3555, 0x7bff,
                                             0xc000, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0x0000};
  write_all(path, npy_bytes("{'descr': '<f2', 'fortran_order': False, 'shape': (3, 4), }", raw(halves)));
  const tsenor::io::Matrix m = tsenor::io::read_npy_matrix(path);
  REQUIRE(m.f32.size() == 12);
  CHECK(m.stored_dtype == NpyDType::float16);
  CHECK(m.f32[0] == std::ldexp(1.0f, -24));
  CHECK(m.f32[1] == std::ldexp(1023.0f, -24));
  CHECK(m.f32[2] == std::ldexp(1.0f, -14));
  CHECK(m.f32[3] == 1.0f);
  CHECK(m.f32[4] == 0.333251953125f);
  CHECK(m.f32[5] == 65504.0f);
  CHECK(m.f32[6] == -2.0f);
  CHECK((m.f32[7] == 0.0f && std::signbit(m.f32[7])));
  CHECK(m.f32[8] == std::numeric_limits<float>::infinity());
  CHECK(m.f32[9] == -std::numeric_limits<float>::infinity());
  CHECK(std::isnan(m.f32[10]));
  CHECK((m.f32[11] == 0.0f && !std::signbit(m.f32[11])));
}

TEST_CASE("float64 keeps double precision") {
  const TempDir dir;
  const std::string path = dir.file("doubles.npy");
  const std::vector<double> values = {1.0 / 3.0, -1e-300};
  write_all(path, npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }", raw(values)));
  const tsenor::io::Matrix m = tsenor::io::read_npy_matrix(path);
  CHECK(m.stored_dtype == NpyDType::float64);
  CHECK(m.f64 == values);
  CHECK(m.f32.empty());
}

TEST_CASE("bool masks read as 0 or 1, uint8 masks unchanged") {
  const TempDir dir;
  const std::string path = dir.file("mask.npy");
  std::size_t rows = 0, cols = 0;
  for (const char* descr : {"|b1", "|u1", "<u1"}) {
    INFO("descr: ", std::string(descr));
    write_all(path, npy_bytes(std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (1, 3)}",
                              std::string("\0\1\2", 3)));
    const std::vector<std::uint8_t> expected = descr[1] == 'b' ? std::vector<std::uint8_t>{0, 1, 1}
                                                               : std::vector<std::uint8_t>{0, 1, 2};
    CHECK(tsenor::io::read_npy_mask(path, rows, cols) == expected);
  }
}

TEST_CASE("malformed and unsupported files throw one-line NpyErrors") {
  const TempDir dir;
  const std::string f4 = "'descr': '<f4', 'fortran_order': False, ";
  const std::string six_floats(24, '\0');
  const std::string valid = npy_bytes("{" + f4 + "'shape': (2, 3), }", six_floats);
  struct Case {
    const char* name;
    std::string bytes;
    const char* expected;  // part of the message
  };
  const Case cases[] = {
      {"empty file", "", "too short"},
      {"bad magic", "\x93NUMPX" + valid.substr(6), "bad magic"},
      {"version 4.0", valid.substr(0, 6) + '\x04' + valid.substr(7), "version 4.0"},
      {"truncated header", valid.substr(0, 30), "runs past the end"},
      {"header length beyond the file", valid.substr(0, 8) + "\xff\xff" + valid.substr(10), "runs past the end"},
      {"v2 header length beyond the file", npy_bytes("{}", "", 2).substr(0, 8) + "\xff\xff\xff\xff{}",
       "runs past the end"},
      {"truncated data", valid.substr(0, valid.size() - 1), "data truncated"},
      {"trailing bytes", valid + "x", "1 bytes after the data"},
      {"missing shape", npy_bytes("{" + f4 + "}", six_floats), "'shape' is missing"},
      {"missing descr", npy_bytes("{'fortran_order': False, 'shape': (2, 3)}", six_floats), "'descr' is missing"},
      {"empty header", npy_bytes("", six_floats), "expected '{'"},
      {"garbage dict", npy_bytes("hello, world", six_floats), "malformed header"},
      {"open dict", npy_bytes("{" + f4, six_floats), "malformed header"},
      {"missing comma", npy_bytes("{'descr': '<f4' 'shape': (2, 3)}", six_floats), "expected '}'"},
      {"missing colon", npy_bytes("{'descr' '<f4'}", six_floats), "expected ':'"},
      {"unterminated string", npy_bytes("{'descr: '<f4'}", six_floats), "malformed header"},
      {"bad bool", npy_bytes("{'descr': '<f4', 'fortran_order': Truest, 'shape': (2, 3)}", six_floats),
       "True or False"},
      {"duplicate key", npy_bytes("{" + f4 + "'shape': (2, 3), 'shape': (2, 3)}", six_floats), "appears twice"},
      {"unknown key", npy_bytes("{" + f4 + "'shape': (2, 3), 'order': 'C'}", six_floats), "unexpected key"},
      {"text after the dict", npy_bytes("{" + f4 + "'shape': (2, 3)} x", six_floats), "after the closing"},
      {"negative dimension", npy_bytes("{" + f4 + "'shape': (-2, 3)}", six_floats), "non-negative integer"},
      {"newline in a string", npy_bytes("{'descr': '<f4\n'}", six_floats), "unsupported character"},
      {"0-D", npy_bytes("{" + f4 + "'shape': ()}", "1234"), "shape () is not 2-D"},
      {"1-D", npy_bytes("{" + f4 + "'shape': (6,)}", six_floats), "shape (6,) is not 2-D"},
      {"3-D", npy_bytes("{" + f4 + "'shape': (1, 2, 3)}", six_floats), "shape (1, 2, 3) is not 2-D"},
      {"dimension beyond size_t", npy_bytes("{" + f4 + "'shape': (99999999999999999999999, 1)}", ""),
       "too large for size_t"},
      {"size beyond size_t", npy_bytes("{" + f4 + "'shape': (4294967296, 4294967296)}", ""), "too large"},
      {"bytes beyond size_t", npy_bytes("{" + f4 + "'shape': (4611686018427387904, 1)}", ""), "too large"},
      {"huge shape, small file", npy_bytes("{" + f4 + "'shape': (1000000000, 1000000000)}", ""), "data truncated"},
      {"big-endian", npy_bytes("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3)}", six_floats),
       "big-endian dtype '>f4'"},
      {"int32", npy_bytes("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3)}", six_floats),
       "unsupported dtype '<i4'"},
      {"structured", npy_bytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2, 3)}", six_floats),
       "structured"},
  };
  for (const Case& c : cases) {
    INFO("case: ", std::string(c.name));
    const std::string path = dir.file("bad.npy");
    write_all(path, c.bytes);
    std::size_t rows = 0, cols = 0;
    const std::string message = error_of([&] { tsenor::io::read_npy_matrix(path); });
    CAPTURE(message);
    CHECK(message.rfind(path + ": ", 0) == 0);
    CHECK(message.find(c.expected) != std::string::npos);
    CHECK(message.find('\n') == std::string::npos);
    // The mask reader finds the same problem; an unsupported dtype lists what each reader accepts.
    const auto problem = [](const std::string& m) { return m.substr(0, m.find("; expected")); };
    CHECK(problem(error_of([&] { tsenor::io::read_npy_mask(path, rows, cols); })) == problem(message));
  }
  write_all(dir.file("int.npy"), npy_bytes("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3)}", six_floats));
  std::size_t rows = 0, cols = 0;
  CHECK(error_of([&] { tsenor::io::read_npy_matrix(dir.file("int.npy")); }).find("'|u1'") == std::string::npos);
  CHECK(error_of([&] { tsenor::io::read_npy_mask(dir.file("int.npy"), rows, cols); }).find("'<f4'") ==
        std::string::npos);
}

TEST_CASE("readers refuse a missing file and the other kind of array") {
  const TempDir dir;
  std::size_t rows = 0, cols = 0;
  CHECK(error_of([&] { tsenor::io::read_npy_matrix(dir.file("none.npy")); }).find("cannot open") !=
        std::string::npos);
  const std::uint8_t data[2] = {1, 0};
  tsenor::io::write_npy_u8(dir.file("mask.npy"), 1, 2, data);
  CHECK(error_of([&] { tsenor::io::read_npy_matrix(dir.file("mask.npy")); }).find("holds a mask") !=
        std::string::npos);
  write_all(dir.file("scores.npy"), npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1)}",
                                              std::string(8, '\0')));
  CHECK(error_of([&] { tsenor::io::read_npy_mask(dir.file("scores.npy"), rows, cols); })
            .find("expected a uint8 or bool mask") != std::string::npos);
}

// ---- Files written by numpy (tests/npy_fixtures.py) ----

namespace {

const bool no_numpy_fixtures = std::getenv("TSENOR_NPY_FIXTURES") == nullptr;

std::string fixture(const std::string& name) {
  const char* dir = std::getenv("TSENOR_NPY_FIXTURES");
  REQUIRE_MESSAGE(dir != nullptr, "set TSENOR_NPY_FIXTURES to run the numpy cases");
  INFO("TSENOR_NPY_FIXTURES=", std::string(dir), " must name the directory written by tests/npy_fixtures.py");
  REQUIRE(fs::is_directory(dir));
  return (fs::path(dir) / name).string();
}

}  // namespace

TEST_CASE("numpy float16/32/64 files in C and Fortran order" * doctest::skip(no_numpy_fixtures)) {
  for (const auto& [prefix, dtype, offset] : std::vector<std::tuple<const char*, NpyDType, double>>{
           {"f16", NpyDType::float16, 0.25}, {"f32", NpyDType::float32, 0.25}, {"f64", NpyDType::float64, 1.0 / 3.0}}) {
    for (const char* order : {"_c", "_f"}) {
      const std::string name = std::string(prefix) + order + ".npy";
      CAPTURE(name);
      const tsenor::io::Matrix m = tsenor::io::read_npy_matrix(fixture(name));
      REQUIRE(m.rows == 5);
      REQUIRE(m.cols == 7);
      CHECK(m.stored_dtype == dtype);
      for (std::size_t i = 0; i < m.rows; ++i)
        for (std::size_t j = 0; j < m.cols; ++j) {
          if (dtype == NpyDType::float64)
            CHECK(m.f64[i * m.cols + j] == score(i, j, offset));
          else
            CHECK(m.f32[i * m.cols + j] == static_cast<float>(score(i, j, offset)));
        }
    }
  }
}

TEST_CASE("every float16 bit pattern widens to the float numpy gives" * doctest::skip(no_numpy_fixtures)) {
  const tsenor::io::Matrix halves = tsenor::io::read_npy_matrix(fixture("f16_all.npy"));
  const tsenor::io::Matrix floats = tsenor::io::read_npy_matrix(fixture("f16_all_as_f32.npy"));
  REQUIRE(halves.f32.size() == 65536);
  REQUIRE(floats.f32.size() == 65536);
  CHECK(std::memcmp(halves.f32.data(), floats.f32.data(), 65536 * sizeof(float)) == 0);
}

TEST_CASE("numpy versions 2.0 and 3.0 and an empty matrix" * doctest::skip(no_numpy_fixtures)) {
  for (const char* name : {"f32_v2.npy", "f32_v3.npy"}) {
    INFO("file: ", std::string(name));
    const tsenor::io::Matrix m = tsenor::io::read_npy_matrix(fixture(name));
    REQUIRE(m.f32.size() == 35);
    CHECK(m.f32[5 * 7 - 1] == static_cast<float>(score(4, 6, 0.25)));
  }
  const tsenor::io::Matrix empty = tsenor::io::read_npy_matrix(fixture("f32_empty.npy"));
  CHECK(empty.rows == 0);
  CHECK(empty.cols == 7);
  CHECK(empty.f32.empty());
}

TEST_CASE("numpy bool and uint8 masks" * doctest::skip(no_numpy_fixtures)) {
  for (const auto& [file, scale] :
       std::vector<std::pair<const char*, int>>{{"mask_bool_c.npy", 1}, {"mask_bool_f.npy", 1}, {"mask_u8_f.npy", 7}}) {
    const std::string name = file;  // INFO is a lambda, which cannot capture a structured binding in C++17
    INFO("file: ", name);
    std::size_t rows = 0, cols = 0;
    const std::vector<std::uint8_t> mask = tsenor::io::read_npy_mask(fixture(name), rows, cols);
    REQUIRE(rows == 6);
    REQUIRE(cols == 4);
    for (std::size_t i = 0; i < rows; ++i)
      for (std::size_t j = 0; j < cols; ++j) CHECK(mask[i * cols + j] == scale * mask_pattern(i, j));
  }
}

TEST_CASE("write_npy_u8 writes the bytes numpy.save writes" * doctest::skip(no_numpy_fixtures)) {
  const TempDir dir;
  for (const auto& [rows, cols] : std::vector<std::pair<std::size_t, std::size_t>>{{3, 5}, {0, 4}, {1, 1000}, {12345, 3}}) {
    const std::string name = "mask_u8_" + std::to_string(rows) + "x" + std::to_string(cols) + ".npy";
    CAPTURE(name);
    std::vector<std::uint8_t> mask(rows * cols);
    for (std::size_t i = 0; i < rows; ++i)
      for (std::size_t j = 0; j < cols; ++j) mask[i * cols + j] = mask_pattern(i, j);
    tsenor::io::write_npy_u8(dir.file(name), rows, cols, mask.data());
    CHECK(read_all(dir.file(name)) == read_all(fixture(name)));
  }
}

TEST_CASE("numpy files of other shapes and types are refused" * doctest::skip(no_numpy_fixtures)) {
  for (const auto& [file, expected] : std::vector<std::pair<const char*, const char*>>{{"f32_3d.npy", "shape (2, 3, 4) is not 2-D"},
                                       {"f32_1d.npy", "shape (5,) is not 2-D"},
                                       {"f32_0d.npy", "shape () is not 2-D"},
                                       {"f32_big_endian.npy", "big-endian dtype '>f4'"},
                                       {"i32.npy", "unsupported dtype '<i4'"},
                                       {"c64.npy", "unsupported dtype '<c8'"},
                                       {"object.npy", "unsupported dtype '|O'"},
                                       {"structured.npy", "structured"}}) {
    const std::string name = file;  // a lambda cannot capture a structured binding in C++17
    INFO("file: ", name);
    const std::string message = error_of([&] { tsenor::io::read_npy_matrix(fixture(name)); });
    CAPTURE(message);
    CHECK(message.find(expected) != std::string::npos);
  }
}
