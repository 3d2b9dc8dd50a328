// The fields of a Summary that every report of the tool writes, in one style (mask's --report and each
// tensor entry of prune's): pattern, method, tile counts, iterations, objective and kept share.
#pragma once

#include <cmath>
#include <nlohmann/json.hpp>

#include "tsenor/tsenor.hpp"

namespace tsenor::tool {

/// Adds the summary's fields to `j`. `kept_fraction`: objective / total score (computed by the caller, who may
/// sum it in a wider type when the double sums overflow: objective and total_score are then null).
inline void put_summary(nlohmann::ordered_json& j, const Summary& s, double kept_fraction) {
  const auto finite_or_null = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  j["n_kept"] = s.n;
  j["m"] = s.m;
  j["method"] = method_name(s.method);
  j["tau"] = s.tau;
  j["max_iterations"] = s.max_iterations;
  j["tiles"] = s.tiles;
  j["feasible_tiles"] = s.feasible_tiles;  // exactly N-regular; cropped border tiles are padded_tiles
  j["padded_tiles"] = s.padded_tiles;
  j["invalid_tiles"] = s.invalid_tiles;
  j["converged_tiles"] = s.converged_tiles;
  j["repaired_tiles"] = s.repaired_tiles;
  j["iterations"] = s.iterations;
  j["max_tile_iterations"] = s.max_tile_iterations;
  j["objective"] = finite_or_null(s.objective);
  j["total_score"] = finite_or_null(s.total_score);
  j["kept_score_fraction"] = kept_fraction;
}

}  // namespace tsenor::tool
