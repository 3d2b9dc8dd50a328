// tsenor._ext: the nanobind module under the Python package. It turns DLPack arrays into
// solve.hpp's Array descriptions (checking rank, dtype, shape and device with messages a Python
// user can act on), releases the GIL while Kokkos works, and maps tsenor::Error to ValueError.
// The public API, framework handling and allocation of outputs live in tsenor/__init__.py.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <tuple>
#include <vector>

#include "solve.hpp"
#include "tsenor/error.hpp"
#include "tsenor/options.hpp"

namespace nb = nanobind;
using namespace tsenor::python;

namespace {

using AnyArray = nb::ndarray<nb::ro>;
using OutArray = nb::ndarray<>;

std::string dtype_text(nb::dlpack::dtype t) {
  if (t.code == static_cast<std::uint8_t>(nb::dlpack::dtype_code::Bool)) return "bool";
  const char* kinds[] = {"int", "uint", "float", "?", "bfloat", "complex"};
  return t.code < 6 ? std::string(kinds[t.code]) + std::to_string(t.bits)
                    : "a " + std::to_string(t.bits) + "-bit type of DLPack code " + std::to_string(t.code);
}

int item_size(const Array& a) {
  switch (a.dtype) {
    case DType::float64: return 8;
    case DType::float32: return 4;
    case DType::float16:
    case DType::bfloat16: return 2;
    default: return 1;
  }
}

// The bytes [first, last) an array's elements lie in.
std::pair<std::intptr_t, std::intptr_t> byte_range(const Array& a) {
  std::intptr_t first = reinterpret_cast<std::intptr_t>(a.data), last = first;
  for (int d = 0; d < 3; ++d) {
    if (a.shape[d] == 0) return {first, first};
    const std::intptr_t step = static_cast<std::intptr_t>(a.strides[d]) * item_size(a) * (a.shape[d] - 1);
    (step < 0 ? first : last) += step;
  }
  return {first, last + item_size(a)};
}

// An output must not write one memory location twice (zero or interleaved strides: broadcast or
// as_strided views), nor overlap an input unless it is that input exactly (`same_allowed`: in place).
void check_output(const Array& out, const Array& input, const char* what, bool same_allowed) {
  std::int64_t dims[3] = {0, 1, 2}, reach = 1;
  std::sort(dims, dims + 3, [&](std::int64_t x, std::int64_t y) {
    return std::llabs(out.strides[x]) < std::llabs(out.strides[y]);
  });
  for (const std::int64_t d : dims) {
    if (out.shape[d] <= 1) continue;
    if (std::llabs(out.strides[d]) < reach)
      throw nb::value_error((std::string(what) + " has elements that share memory (a broadcast or overlapping "
                                                 "view): tsenor would write them twice")
                                .c_str());
    reach = std::llabs(out.strides[d]) * out.shape[d];
  }
  const bool same = out.data == input.data && out.strides[0] == input.strides[0] &&
                    out.strides[1] == input.strides[1] && out.strides[2] == input.strides[2];
  if (same && same_allowed) return;
  const auto o = byte_range(out), i = byte_range(input);
  if (o.first < i.second && i.first < o.second)
    throw nb::value_error((std::string(what) + " overlaps the input's memory").c_str());
}

// what: "scores", "mask", …; values: the dtypes accepted, for the message.
template <class ND>
Array describe(const ND& a, const char* what, bool mask_dtype) {
  Array out;
  const std::size_t rank = a.ndim();
  out.rank = static_cast<int>(rank);
  if (rank != 2 && rank != 3)
    throw nb::value_error((std::string(what) + " must be 2-D (rows × cols) or 3-D (a batch of matrices), got " +
                           std::to_string(rank) + "-D")
                              .c_str());
  const std::size_t first = 3 - rank;
  for (std::size_t d = 0; d < rank; ++d) {
    out.shape[first + d] = static_cast<std::int64_t>(a.shape(d));
    out.strides[first + d] = a.stride(d);
  }
  out.data = const_cast<void*>(static_cast<const void*>(a.data()));
  const nb::dlpack::dtype t = a.dtype();
  using Code = nb::dlpack::dtype_code;
  const auto is = [&](Code code, int bits) { return t.code == static_cast<std::uint8_t>(code) && t.bits == bits && t.lanes == 1; };
  if (mask_dtype) {
    if (is(Code::UInt, 8)) out.dtype = DType::uint8;
    else if (is(Code::Bool, 8)) out.dtype = DType::boolean;
    else throw nb::type_error((std::string(what) + " must be uint8 or bool, got " + dtype_text(t)).c_str());
  } else {
    if (is(Code::Float, 16)) out.dtype = DType::float16;
    else if (is(Code::Bfloat, 16)) out.dtype = DType::bfloat16;
    else if (is(Code::Float, 32)) out.dtype = DType::float32;
    else if (is(Code::Float, 64)) out.dtype = DType::float64;
    else
      throw nb::type_error((std::string(what) + " must be float16, bfloat16, float32 or float64, got " + dtype_text(t))
                               .c_str());
  }
  switch (a.device_type()) {
    case nb::device::cpu::value:
    case nb::device::cuda_host::value:
    case nb::device::rocm_host::value: out.device = DeviceKind::cpu; break;
    case nb::device::cuda::value:
    case nb::device::cuda_managed::value: out.device = DeviceKind::cuda; break;
    case nb::device::rocm::value: out.device = DeviceKind::hip; break;
    default:
      throw nb::type_error((std::string(what) + " lives on DLPack device type " + std::to_string(a.device_type()) +
                            "; tsenor reads host, CUDA and ROCm memory")
                               .c_str());
  }
  out.device_id = a.device_id();
  return out;
}

void require_same(const Array& a, const Array& b, const char* what) {
  if (a.rank != b.rank)
    throw nb::value_error((std::string(what) + " must have the input's rank (" + std::to_string(a.rank) + "-D)").c_str());
  for (int d = 0; d < 3; ++d)
    if (a.shape[d] != b.shape[d])
      throw nb::value_error((std::string(what) + " must have the shape of the input").c_str());
  if (a.device != b.device || (a.device != DeviceKind::cpu && a.device_id != b.device_id))
    throw nb::value_error((std::string(what) + " must be on the input's device").c_str());
}

}  // namespace

NB_MODULE(_ext, m) {
  m.doc() = "tsenor's compiled core; use the functions of the tsenor package";
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const tsenor::Error& e) {
      // Without the C++ function's name ("tsenor::compute_mask: ", "parse_method: "): Python users
      // called tsenor.mask.
      std::string text = e.message();
      const std::size_t colon = text.find(": ");
      if (colon != std::string::npos && colon > 0 &&
          text.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:") == colon + 1)
        text.erase(0, colon + 2);
      PyErr_SetString(PyExc_ValueError, text.c_str());
    }
  });

  nb::class_<tsenor::Summary>(m, "_Summary")
      .def_ro("n", &tsenor::Summary::n)
      .def_ro("m", &tsenor::Summary::m)
      .def_prop_ro("method", [](const tsenor::Summary& s) { return std::string(tsenor::method_name(s.method)); })
      .def_ro("tau", &tsenor::Summary::tau)
      .def_ro("max_iterations", &tsenor::Summary::max_iterations)
      .def_ro("matrices", &tsenor::Summary::matrices)
      .def_ro("rows", &tsenor::Summary::rows)
      .def_ro("cols", &tsenor::Summary::cols)
      .def_ro("tiles", &tsenor::Summary::tiles)
      .def_ro("feasible_tiles", &tsenor::Summary::feasible_tiles)
      .def_ro("invalid_tiles", &tsenor::Summary::invalid_tiles)
      .def_ro("converged_tiles", &tsenor::Summary::converged_tiles)
      .def_ro("repaired_tiles", &tsenor::Summary::repaired_tiles)
      .def_ro("padded_tiles", &tsenor::Summary::padded_tiles)
      .def_ro("iterations", &tsenor::Summary::iterations)
      .def_ro("objective", &tsenor::Summary::objective)
      .def_ro("total_score", &tsenor::Summary::total_score)
      .def_ro("seconds", &tsenor::Summary::seconds);

  m.def(
      "solve",
      [](const AnyArray& scores, const OutArray& mask, int n, int m_, const std::string& method, bool zero_pad,
         double tau, int iterations, double tolerance, int local_search_steps, int transform, std::uintptr_t stream) {
        const Array s = describe(scores, "scores", false);
        const Array k = describe(mask, "out", true);
        require_same(s, k, "out");
        check_output(k, s, "out", false);
        tsenor::Options o;
        o.n = n;
        o.m = m_;
        o.method = tsenor::parse_method(method);
        o.zero_pad = zero_pad;
        o.tau = tau;
        o.max_iterations = iterations;
        o.tolerance = tolerance;
        o.local_search_steps = local_search_steps;
        nb::gil_scoped_release release;
        const Result r = solve(s, k, o, static_cast<Transform>(transform), stream);
        return std::make_tuple(r.summary, r.backend);
      },
      nb::arg("scores"), nb::arg("mask"), nb::arg("n"), nb::arg("m"), nb::arg("method"), nb::arg("zero_pad"),
      nb::arg("tau"), nb::arg("iterations"), nb::arg("tolerance"), nb::arg("local_search_steps"), nb::arg("transform"),
      nb::arg("stream"));

  m.def(
      "apply",
      [](const AnyArray& x, const AnyArray& mask, const OutArray& out, std::uintptr_t stream) {
        const Array a = describe(x, "weight", false), k = describe(mask, "mask", true), o = describe(out, "out", false);
        require_same(a, k, "mask");
        require_same(a, o, "out");
        if (a.dtype != o.dtype) throw nb::type_error("out must have the dtype of the input");
        check_output(o, a, "out", true);
        check_output(o, k, "out", false);
        nb::gil_scoped_release release;
        apply_mask(a, k, o, stream);
      },
      nb::arg("x"), nb::arg("mask"), nb::arg("out"), nb::arg("stream"));

  m.def(
      "verify",
      [](const AnyArray& mask, int n, int m_, bool zero_pad, std::uintptr_t stream) {
        const Array k = describe(mask, "mask", true);
        nb::gil_scoped_release release;
        const Check c = verify(k, n, m_, zero_pad, stream);
        return std::make_tuple(c.tiles, c.bad_tiles, c.bad_values, c.first_bad_tiles);
      },
      nb::arg("mask"), nb::arg("n"), nb::arg("m"), nb::arg("zero_pad"), nb::arg("stream"));

  // A zero-filled array allocated by Kokkos on the host or the GPU, exported through DLPack: outputs for
  // frameworks whose arrays cannot be written in place (JAX imports it with jax.dlpack.from_dlpack).
  m.def(
      "empty",
      [](const std::vector<std::size_t>& shape, std::uint8_t code, std::uint8_t bits, bool gpu) {
        std::size_t bytes = bits / 8;
        for (const std::size_t e : shape) bytes *= e;
        const DeviceBuffer buffer = allocate(bytes, gpu ? DeviceKind::cuda : DeviceKind::cpu);
        const nb::capsule owner(new DeviceBuffer(buffer), [](void* p) noexcept {
          const auto* b = static_cast<DeviceBuffer*>(p);
          release(*b);
          delete b;
        });
        return nb::ndarray<nb::array_api>(buffer.data, shape.size(), shape.data(), owner, nullptr,
                                          nb::dlpack::dtype{code, bits, 1},
                             gpu ? nb::device::cuda::value : nb::device::cpu::value, gpu ? gpu_device() : 0);
      },
      nb::arg("shape"), nb::arg("code"), nb::arg("bits"), nb::arg("gpu"));

  m.def(
      "prune_layer",
      [](const OutArray& w, const AnyArray& h, const OutArray& mask, bool alps, int n, int m_,
         const std::string& method, bool rows_pattern, double damp, int block, bool fixed_mask, double rho,
         int max_iterations, bool report_errors, std::uintptr_t stream) {
        const Array weights = describe(w, "weight", false), gram = describe(h, "H", false),
                    keep = describe(mask, "mask", true);
        require_same(weights, keep, "mask");
        if (weights.dtype != DType::float32 && weights.dtype != DType::float64)
          throw nb::type_error("the weight must be float32 or float64");
        if (gram.dtype != DType::float64) throw nb::type_error("H must be float64");
        if (gram.shape[1] != weights.shape[2] || gram.shape[2] != weights.shape[2])
          throw nb::value_error("H must be cols x cols for a rows x cols weight");
        LayerArgs args;
        args.alps = alps;
        args.mask.n = n;
        args.mask.m = m_;
        args.mask.method = tsenor::parse_method(method);
        args.rows_pattern = rows_pattern;
        args.damp = damp;
        args.block = block;
        args.fixed_mask = fixed_mask;
        args.rho = rho;
        args.max_iterations = max_iterations;
        args.report_errors = report_errors;
        nb::gil_scoped_release release;
        const LayerResult r = prune_layer(weights, gram, keep, args, stream);
        return std::make_tuple(r.error, r.masked_error, r.strips, r.iterations, r.rho, r.support_changes, r.seconds,
                               r.linear_algebra);
      },
      nb::arg("w"), nb::arg("h"), nb::arg("mask"), nb::arg("alps"), nb::arg("n"), nb::arg("m"), nb::arg("method"),
      nb::arg("rows_pattern"), nb::arg("damp"), nb::arg("block"), nb::arg("fixed_mask"), nb::arg("rho"),
      nb::arg("max_iterations"), nb::arg("report_errors"), nb::arg("stream"));
  m.def("has_layers", &has_layers);

  m.def("initialize", &initialize, nb::arg("threads") = 0, nb::arg("device") = -1);
  m.def(
      "check_writable",
      [](const OutArray& x) {
        const Array a = describe(x, "weight", false);
        check_output(a, a, "the weight", true);
      },
      nb::arg("x"));
  m.def("initialized", &initialized);
  m.def("empty_cache", &empty_cache);
  m.def("finalize", &finalize);
  m.def("backends", &backends);
  m.def("kokkos_version", &kokkos_version);
}
