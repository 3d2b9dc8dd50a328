// One entry point for both layer methods, for callers that choose the method at run time (the tool's
// --method, the Python package): the options of both, and SparseGPT or ALPS on them.
#pragma once

#include "tsenor/layers/alps.hpp"
#include "tsenor/layers/sparsegpt.hpp"

namespace tsenor::layers {

enum class LayerMethod { sparsegpt, alps };

struct LayerOptions {
  LayerMethod method = LayerMethod::sparsegpt;
  Options mask;  ///< N, M and the tile solver's method
  Pattern pattern = Pattern::transposable;
  double damp = 0.01;
  int block = 128;           ///< SparseGPT: columns per lazy update
  bool fixed_mask = false;   ///< SparseGPT: reconstruct for the given mask
  double rho = 0.1;          ///< ALPS: initial penalty
  int max_iterations = 300;  ///< ALPS
  bool report_errors = true;
};

/// sparsegpt() or alps() on `w`, `h` and `mask` (see them) with the options that apply to the method.
template <class Exec, class Real>
LayerReport prune_layer(const Exec& exec, const Kokkos::View<Real**, Kokkos::LayoutRight, typename Exec::memory_space>& w,
                        const Kokkos::View<const double**, Kokkos::LayoutRight, typename Exec::memory_space>& h,
                        const Kokkos::View<std::uint8_t**, Kokkos::LayoutRight, typename Exec::memory_space>& mask,
                        const LayerOptions& options) {
  if (options.method == LayerMethod::alps) {
    AlpsOptions o;
    o.mask = options.mask;
    o.pattern = options.pattern;
    o.damp = options.damp;
    o.rho = options.rho;
    o.max_iterations = options.max_iterations;
    o.report_errors = options.report_errors;
    return alps<Exec, Real>(exec, w, h, mask, o);
  }
  SparseGPTOptions o;
  o.mask = options.mask;
  o.pattern = options.pattern;
  o.damp = options.damp;
  o.block = options.block;
  o.fixed_mask = options.fixed_mask;
  o.report_errors = options.report_errors;
  return sparsegpt<Exec, Real>(exec, w, h, mask, o);
}

}  // namespace tsenor::layers
