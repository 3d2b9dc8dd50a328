// The safetensors reader and writer: exact dtype conversion, header validation (every malformed case is a
// SafetensorsError naming the file and tensor), writer/reader round trip, and the fuzzer's findings
// (tests/fuzz/regressions, tests/fuzz/corpus) replayed through the parser.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tsenor/io/safetensors.hpp"

using namespace tsenor::io;

namespace {

std::vector<std::uint8_t> file_bytes(const std::string& json, std::size_t data_bytes) {
  std::vector<std::uint8_t> out(8);
  for (int k = 0; k < 8; ++k) out[k] = static_cast<std::uint8_t>((json.size() >> (8 * k)) & 0xff);
  out.insert(out.end(), json.begin(), json.end());
  out.resize(out.size() + data_bytes, 0);
  return out;
}

std::string error_of(const std::vector<std::uint8_t>& bytes) {
  try {
    parse_safetensors_header(bytes.data(), bytes.size(), bytes.size(), "x.safetensors");
  } catch (const SafetensorsError& e) {
    return e.what();
  }
  return "";
}

std::string tensor(const char* name, const char* dtype, const char* shape, std::uint64_t begin, std::uint64_t end) {
  std::ostringstream o;
  o << '"' << name << "\":{\"dtype\":\"" << dtype << "\",\"shape\":" << shape << ",\"data_offsets\":[" << begin << ','
    << end << "]}";
  return o.str();
}

}  // namespace

TEST_CASE("safetensors: F16 and BF16 widen to float exactly") {
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const std::uint16_t bits = static_cast<std::uint16_t>(h);
    float got = 0;
    to_float(SafetensorsDType::F16, &bits, 1, &got);
    const std::uint32_t exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    const double sign = (h & 0x8000) ? -1.0 : 1.0;
    if (exponent == 0x1f) {
      CHECK((mantissa ? std::isnan(got) : (std::isinf(got) && (got < 0) == (sign < 0))));
      continue;
    }
    const double expected = exponent ? sign * std::ldexp(1024.0 + mantissa, static_cast<int>(exponent) - 25)
                                     : sign * std::ldexp(static_cast<double>(mantissa), -24);
    REQUIRE(static_cast<double>(got) == expected);
    REQUIRE(std::signbit(got) == (sign < 0));
    const std::uint16_t b = bits;
    to_float(SafetensorsDType::BF16, &b, 1, &got);
    std::uint32_t widened = 0;
    std::memcpy(&widened, &got, 4);
    REQUIRE(widened == (h << 16));
  }
}

// Every finite F16 and BF16 value comes back from from_float unchanged; the midpoint between two neighbours goes
// to the one with an even last bit, and the floats just beside it to the nearer one; overflow gives infinity.
TEST_CASE("safetensors: floats round to F16 and BF16 to nearest, ties to even") {
  const auto encode = [](SafetensorsDType d, float v) {
    std::uint16_t h = 0;
    from_float(d, &v, 1, &h);
    return h;
  };
  const auto decode = [](SafetensorsDType d, std::uint16_t h) {
    float v = 0;
    to_float(d, &h, 1, &v);
    return v;
  };
  for (SafetensorsDType d : {SafetensorsDType::F16, SafetensorsDType::BF16}) {
    CAPTURE(dtype_name(d));
    for (std::uint32_t h = 0; h < 65536; ++h) {
      const float v = decode(d, static_cast<std::uint16_t>(h));
      if (std::isnan(v)) {
        REQUIRE(std::isnan(decode(d, encode(d, v))));
        continue;
      }
      REQUIRE(encode(d, v) == h);
      const std::uint16_t next = static_cast<std::uint16_t>(h + 1);  // the neighbour away from zero
      const float w = decode(d, next);
      if (std::isnan(w) || std::isinf(w) || std::isinf(v) || (h & 0x7fff) == 0x7fff) continue;
      const float mid = static_cast<float>((static_cast<double>(v) + static_cast<double>(w)) / 2);  // exact
      REQUIRE(static_cast<double>(mid) == (static_cast<double>(v) + static_cast<double>(w)) / 2);
      CHECK(encode(d, mid) == ((h & 1u) ? next : h));
      CHECK(encode(d, std::nextafter(mid, v)) == h);
      CHECK(encode(d, std::nextafter(mid, w)) == next);
    }
  }
  CHECK(encode(SafetensorsDType::F16, 65519.99f) == 0x7bff);
  CHECK(encode(SafetensorsDType::F16, 65520.0f) == 0x7c00);
  CHECK(encode(SafetensorsDType::F16, -1e30f) == 0xfc00);
  CHECK(encode(SafetensorsDType::BF16, 3.4e38f) == 0x7f80);
  CHECK(encode(SafetensorsDType::F16, std::ldexp(1.0f, -25)) == 0x0000);  // a tie between 0 and the least subnormal
  CHECK(encode(SafetensorsDType::F16, std::nextafter(std::ldexp(1.0f, -25), 1.0f)) == 0x0001);
}

TEST_CASE("safetensors: a valid header parses, tensors sorted by offset") {
  const std::string json = "{\"__metadata__\":{\"format\":\"pt\"}," + tensor("b", "F32", "[2,3]", 8, 32) + "," +
                           tensor("a", "BF16", "[4]", 0, 8) + "," + tensor("e", "U8", "[0,5]", 32, 32) + "}";
  const auto bytes = file_bytes(json, 32);
  const SafetensorsHeader h = parse_safetensors_header(bytes.data(), bytes.size(), bytes.size(), "x");
  REQUIRE(h.tensors.size() == 3);
  CHECK(h.tensors[0].name == "a");
  CHECK(h.tensors[1].name == "b");
  CHECK(h.tensors[1].shape == std::vector<std::uint64_t>{2, 3});
  CHECK(h.tensors[1].dtype == SafetensorsDType::F32);
  CHECK(h.metadata.at("format") == "pt");
  CHECK(h.data_start == 8 + json.size());
}

TEST_CASE("safetensors: every malformed header is one clear error") {
  struct Case {
    std::string json;
    std::size_t data;
    const char* needle;
  };
  const Case cases[] = {
      {"{" + tensor("w", "F32", "[2,2]", 0, 16) + "}", 8, "tensor 'w': data_offsets end at byte 16"},
      {"{" + tensor("w", "F16", "[2,2]", 0, 16) + "}", 16, "need 8 bytes, but data_offsets span 16"},
      {"{" + tensor("w", "F32", "[2]", 0, 8) + "," + tensor("v", "F32", "[2]", 4, 12) + "}", 12, "overlap"},
      {"{" + tensor("w", "F32", "[2]", 0, 8) + "," + tensor("v", "F32", "[2]", 12, 20) + "}", 20, "hole of 4"},
      {"{" + tensor("w", "F32", "[2]", 0, 8) + "}", 16, "8 bytes after the last tensor"},
      {"{" + tensor("w", "F32", "[2]", 8, 0) + "}", 8, "reversed"},
      {"{" + tensor("w", "X9", "[2]", 0, 8) + "}", 8, "unknown dtype 'X9'"},
      {"{" + tensor("w", "F32", "[4294967296,4294967296]", 0, 8) + "}", 8, "overflows"},
      {"{" + tensor("w", "F32", "[-2]", 0, 8) + "}", 8, "non-negative integer"},
      {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "data_offsets is missing"},
      {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8, "unexpected key 'x'"},
      {"{\"w\":1}", 0, "tensor 'w': header entry is not an object"},
      {"{\"w\":{}, \"w\":{}}", 0, "duplicate key 'w'"},
      {"{\"__metadata__\":[]}", 0, "__metadata__ is not an object"},
      {"{\"a\":[[[[1]]]]}", 0, "nested deeper"},
      {"{\"a\":", 0, "malformed JSON header"},
      {"[]", 0, "does not start with '{'"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.json);
    const std::string e = error_of(file_bytes(c.json, c.data));
    CHECK(e.rfind("x.safetensors: ", 0) == 0);
    CHECK(e.find(c.needle) != std::string::npos);
  }
  // The 8-byte length: shorter file, a length past the end, an absurd length.
  std::vector<std::uint8_t> short_file = {1, 2, 3};
  CHECK(error_of(short_file).find("truncated") != std::string::npos);
  auto lie = file_bytes("{}", 0);
  lie[0] = 200;
  CHECK(error_of(lie).find("runs past the end") != std::string::npos);
  lie[7] = 0x7f;
  CHECK(error_of(lie).find("exceeds the limit") != std::string::npos);
}

TEST_CASE("safetensors: the writer's layout reads back") {
  std::vector<OutputTensor> tensors = {{"m.b", SafetensorsDType::U8, {3, 5}}, {"m.a", SafetensorsDType::BF16, {2, 2}},
                                       {"m.z", SafetensorsDType::F32, {0}}};
  const SafetensorsLayout layout = plan_safetensors(tensors, {{"format", "pt"}, {"n_kept", "2"}});
  CHECK(layout.header.size() % 8 == 0);
  std::vector<std::uint8_t> bytes(layout.header.begin(), layout.header.end());
  bytes.resize(layout.file_size, 0);
  const SafetensorsHeader h = parse_safetensors_header(bytes.data(), bytes.size(), bytes.size(), "w");
  REQUIRE(h.tensors.size() == 3);
  CHECK(h.tensors[0].name == "m.b");  // placed in the order given
  CHECK(h.data_start + h.tensors[0].begin == layout.offsets[0]);
  CHECK(h.data_start + h.tensors[1].begin == layout.offsets[1]);
  CHECK(h.tensors[1].dtype == SafetensorsDType::BF16);
  CHECK(h.metadata.at("n_kept") == "2");
}

TEST_CASE("safetensors: index files") {
  const auto map = parse_safetensors_index("{\"metadata\":{},\"weight_map\":{\"a\":\"s1.safetensors\"}}", "i.json");
  CHECK(map.at("a") == "s1.safetensors");
  for (const char* bad : {"{}", "{\"weight_map\":{\"a\":\"/etc/passwd\"}}", "{\"weight_map\":{\"a\":\"../x\"}}",
                          "{\"weight_map\":{\"a\":3}}", "{\"weight_map\":{}}", "{\"weight_map\":"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(parse_safetensors_index(bad, "i.json"), SafetensorsError);
  }
}

// Inputs the fuzzer found (regressions/: each crashed or misbehaved once) and a seed corpus: the parser must
// answer every one with a header or a SafetensorsError whose message is one line of printable ASCII, never a
// crash or another exception. (Found: nlohmann's parse errors quote the file's raw bytes.)
namespace {
void check_message(const SafetensorsError& e) {
  const std::string m = e.what();
  for (const char c : m) REQUIRE_MESSAGE((c >= 0x20 && c < 0x7f), m);
}
}  // namespace
TEST_CASE("safetensors: fuzzer regressions and corpus") {
  const char* root = std::getenv("TSENOR_FUZZ_INPUTS");
  if (!root) return;  // set by ctest
  int files = 0;
  for (const char* sub : {"/regressions", "/corpus"}) {
    const std::string dir = std::string(root) + sub;
    DIR* d = opendir(dir.c_str());
    REQUIRE_MESSAGE(d != nullptr, dir);
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::ifstream f(dir + "/" + e->d_name, std::ios::binary);
      const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      CAPTURE(e->d_name);
      try {
        parse_safetensors_header(bytes.data(), bytes.size(), bytes.size(), e->d_name);
      } catch (const SafetensorsError& error) {
        check_message(error);
      }
      try {
        parse_safetensors_index(std::string(bytes.begin(), bytes.end()), e->d_name);
      } catch (const SafetensorsError& error) {
        check_message(error);
      }
      ++files;
    }
    closedir(d);
  }
  CHECK(files > 0);
}
