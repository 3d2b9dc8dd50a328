// libFuzzer entry: the bytes are a whole safetensors file (8-byte length, JSON header, data) and, read as
// text, a model.safetensors.index.json. A SafetensorsError is the expected answer to garbage; any other
// exception, a crash, a leak or undefined behaviour is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "tsenor/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tsenor::io;
  try {
    const SafetensorsHeader h = parse_safetensors_header(data, size, size, "fuzz");
    for (const TensorInfo& t : h.tensors)
      if (t.end > size - h.data_start) __builtin_trap();  // the parser promised offsets inside the file
  } catch (const SafetensorsError&) {
  }
  try {
    parse_safetensors_index(std::string(reinterpret_cast<const char*>(data), size), "fuzz.index.json");
  } catch (const SafetensorsError&) {
  }
  return 0;
}
