#include "column_norms.hpp"

#include <cmath>
#include <string>

#include "tsenor/error.hpp"

#ifdef TSENOR_HAVE_KOKKOS_KERNELS
#include <KokkosBlas1_team_dot.hpp>
#include <Kokkos_Core.hpp>
#endif

namespace tsenor::tool {

#ifdef TSENOR_HAVE_KOKKOS_KERNELS

bool have_column_norms() { return true; }

std::vector<float> column_norms(const io::SafetensorsFile& file, const io::TensorInfo& tensor) {
  const std::uint64_t cols = tensor.shape.back();
  const std::uint64_t rows = cols ? tensor.elements() / cols : 0;
  const std::size_t elem = io::dtype_size(tensor.dtype);
  // A fixed block height, not the --max-chunk-mb one: the block sums are added in order, so the block
  // height is part of the result's rounding and must not depend on an option.
  constexpr std::uint64_t block_rows = 256;
  using Host = Kokkos::DefaultHostExecutionSpace;
  Kokkos::View<double**, Kokkos::LayoutRight, Kokkos::HostSpace> block("tsenor::activations", block_rows, cols);
  Kokkos::View<double*, Kokkos::HostSpace> partial("tsenor::partial_sums", cols);
  std::vector<double> sum_of_squares(cols, 0.0);
  std::vector<unsigned char> raw(block_rows * cols * elem);
  std::vector<float> values(block_rows * cols);
  for (std::uint64_t r0 = 0; r0 < rows; r0 += block_rows) {
    const std::uint64_t h = rows - r0 < block_rows ? rows - r0 : block_rows;
    file.read(tensor, r0 * cols * elem, h * cols * elem, raw.data());
    io::to_float(tensor.dtype, raw.data(), h * cols, values.data());
    for (std::uint64_t k = 0; k < h * cols; ++k) {
      if (!std::isfinite(values[k]))
        throw Error(file.path() + ": tensor '" + tensor.name + "': activations hold NaN or infinite values");
      block.data()[k] = values[k];
    }
    const auto x = Kokkos::subview(block, Kokkos::make_pair<std::uint64_t, std::uint64_t>(0, h), Kokkos::ALL);
    using Member = Kokkos::TeamPolicy<Host>::member_type;
    Kokkos::parallel_for(
        "tsenor::column_sum_of_squares", Kokkos::TeamPolicy<Host>(static_cast<int>(cols), 1),
        KOKKOS_LAMBDA(const Member& team) {
          const int j = team.league_rank();
          const auto column = Kokkos::subview(x, Kokkos::ALL, j);
          const double s = KokkosBlas::Experimental::dot(team, column, column);
          Kokkos::single(Kokkos::PerTeam(team), [&]() { partial(j) = s; });
        });
    Kokkos::fence();
    for (std::uint64_t j = 0; j < cols; ++j) sum_of_squares[j] += partial(j);
  }
  std::vector<float> norms(cols);
  for (std::uint64_t j = 0; j < cols; ++j) norms[j] = static_cast<float>(std::sqrt(sum_of_squares[j]));
  for (float v : norms)
    if (!std::isfinite(v))
      throw Error(file.path() + ": tensor '" + tensor.name + "': a column norm overflows float32");
  return norms;
}

#else

bool have_column_norms() { return false; }

std::vector<float> column_norms(const io::SafetensorsFile& file, const io::TensorInfo& tensor) {
  throw Error(file.path() + ": tensor '" + tensor.name +
              "': raw activations need a build with Kokkos Kernels; pass the column norms (1-D) instead");
}

#endif

}  // namespace tsenor::tool
