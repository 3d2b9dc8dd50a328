#include "prune_plan.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>

#include "column_norms.hpp"
#include "tsenor/error.hpp"
#include "tsenor/io/detail/text.hpp"
#include "tsenor/options.hpp"

namespace tsenor::tool {

namespace {

using io::detail::shape_text;

std::vector<std::string> split_name(const std::string& name) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t k = 0; k <= name.size(); ++k)
    if (k == name.size() || name[k] == '.') {
      parts.push_back(name.substr(start, k - start));
      start = k + 1;
    }
  return parts;
}

// The default rule: the weight of a linear layer, not an embedding, output head, norm or bias. "" = selected.
std::string default_rule(const std::string& name) {
  const auto parts = split_name(name);
  if (parts.back() != "weight") return "not a weight (" + parts.back() + ")";
  for (std::size_t k = 0; k + 1 < parts.size(); ++k) {
    std::string p = parts[k];
    for (char& c : p) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (p.find("embed") != std::string::npos || p == "wte" || p == "wpe") return "embedding";
    if (p == "lm_head" || p == "head" || (parts.size() == 2 && p == "output")) return "output head";
    if (p.find("norm") != std::string::npos || p == "ln" || p.rfind("ln_", 0) == 0) return "norm";
  }
  return "";
}

bool matches(const std::vector<std::string>& patterns, const std::string& name, std::string* which = nullptr) {
  for (const auto& p : patterns)
    if (::fnmatch(p.c_str(), name.c_str(), 0) == 0) {
      if (which) *which = p;
      return true;
    }
  return false;
}

void select(std::vector<PlannedTensor>& tensors, const Args& args) {
  const std::uint64_t m = static_cast<std::uint64_t>(args.options.m);
  for (PlannedTensor& it : tensors) {
    const io::TensorInfo& t = *it.tensor.info;
    std::string pattern;
    if (!args.include.empty())
      it.reason = matches(args.include, t.name) ? "" : "not matched by --include";
    else
      it.reason = default_rule(t.name);
    if (it.reason.empty() && matches(args.exclude, t.name, &pattern)) it.reason = "excluded by --exclude '" + pattern + "'";
    if (it.reason.empty() && t.shape.size() != 2) it.reason = std::to_string(t.shape.size()) + "-D, not a matrix";
    if (it.reason.empty() && !io::is_prunable(t.dtype))
      it.reason = std::string("dtype ") + io::dtype_name(t.dtype) + " is not F32, F16 or BF16";
    if (it.reason.empty() && (t.shape[0] % m || t.shape[1] % m || t.shape[0] == 0 || t.shape[1] == 0))
      it.reason = "shape is not a multiple of M = " + std::to_string(m);
    it.selected = it.reason.empty();
  }
}

// The weight's layer: its name without ".weight".
std::string layer_name(const std::string& name) {
  return name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0 ? name.substr(0, name.size() - 7) : name;
}

// Activations for `weight` (Wanda's statistics, SparseGPT's and ALPS's calibration inputs): the tensor named like
// the weight, or like its layer, of a float dtype, shaped (..., columns of the weight).
const io::TensorInfo* find_activations(const io::SafetensorsFile& file, const io::TensorInfo& weight,
                                       const std::string& what, const std::string& also_looked_for) {
  const std::string& name = weight.name;
  const std::string layer = layer_name(name);
  const io::TensorInfo* s = file.find(name);
  if (!s) s = file.find(layer);
  if (!s)
    throw Error(file.path() + ": no " + what + " for tensor '" + name + "' (looked for " + also_looked_for + "'" +
                name + "' and '" + layer + "')");
  const std::uint64_t cols = weight.shape[1];
  if (!io::is_prunable(s->dtype))
    throw Error(file.path() + ": tensor '" + s->name + "': dtype " + io::dtype_name(s->dtype) +
                " is not F32, F16 or BF16");
  if (s->shape.empty() || s->shape.back() != cols)
    throw Error(file.path() + ": tensor '" + s->name + "': shape " + shape_text(s->shape) + " does not end in " +
                std::to_string(cols) + ", the input size of '" + name + "'");
  return s;
}

// Wanda statistics: column norms (1-D) or raw activations.
void attach_stats(std::vector<PlannedTensor>& tensors, const io::SafetensorsFile& stats) {
  for (PlannedTensor& it : tensors) {
    if (!it.selected) continue;
    it.stats = find_activations(stats, *it.tensor.info, "activation statistics", "");
    if (it.stats->shape.size() > 1 && !have_column_norms())
      throw Error(stats.path() + ": tensor '" + it.stats->name +
                  "': raw activations need a build with Kokkos Kernels; pass 1-D column norms instead");
  }
}

// SparseGPT/ALPS calibration: the Gram matrix 'L.gram' (columns x columns), else raw activations (..., columns).
void attach_calibration(std::vector<PlannedTensor>& tensors, const io::SafetensorsFile& calibration) {
  for (PlannedTensor& it : tensors) {
    if (!it.selected) continue;
    const io::TensorInfo& weight = *it.tensor.info;
    const std::string gram = layer_name(weight.name) + ".gram";
    if ((it.stats = calibration.find(gram))) {
      it.gram = true;
      const std::uint64_t cols = weight.shape[1];
      const io::TensorInfo& g = *it.stats;
      if (!io::is_prunable(g.dtype) && g.dtype != io::SafetensorsDType::F64)
        throw Error(calibration.path() + ": tensor '" + gram + "': dtype " + io::dtype_name(g.dtype) +
                    " is not F64, F32, F16 or BF16");
      if (g.shape != std::vector<std::uint64_t>{cols, cols})
        throw Error(calibration.path() + ": tensor '" + gram + "': shape " + shape_text(g.shape) + " is not " +
                    std::to_string(cols) + "x" + std::to_string(cols) + ", the Gram matrix of the inputs of '" +
                    weight.name + "'");
    } else {
      it.stats = find_activations(calibration, weight, "calibration", "'" + gram + "', ");
      if (it.stats->shape.size() < 2)
        throw Error(calibration.path() + ": tensor '" + it.stats->name +
                    "': calibration activations are (samples..., columns), not 1-D (column norms are for Wanda)");
    }
  }
}

// Deterministic assignment to ranks: the selected tensors by decreasing size (then name), each to the least
// loaded rank (then the lowest); the tensors --apply only copies, round robin.
void assign_ranks(std::vector<PlannedTensor>& tensors, int ranks) {
  std::vector<PlannedTensor*> order;
  for (PlannedTensor& it : tensors)
    if (it.selected) order.push_back(&it);
  std::stable_sort(order.begin(), order.end(), [](const PlannedTensor* a, const PlannedTensor* b) {
    return a->tensor.info->elements() > b->tensor.info->elements();
  });
  std::vector<std::uint64_t> load(static_cast<std::size_t>(ranks), 0);
  for (PlannedTensor* it : order) {
    const auto least = std::min_element(load.begin(), load.end());
    it->rank = static_cast<int>(least - load.begin());
    *least += it->tensor.info->elements();
  }
  int next = 0;
  for (PlannedTensor& it : tensors)
    if (!it.selected) it.rank = next++ % ranks;
}

void plan_outputs(PrunePlan& plan, const Args& args) {
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"},
      {"tsenor", std::string(args.rows_pattern ? "standard" : "transposable") + " N:M masks, 1 = kept, tsenor " +
                     TSENOR_VERSION},
      {"n_kept", std::to_string(args.options.n)},
      {"m", std::to_string(args.options.m)},
      {"method", method_name(args.options.method)},
      {"scores", pruning_method(args)},
      {"pattern", args.rows_pattern ? "rows" : "transposable"},
      {"mask_format", args.mask_bits ? "bits" : "bytes"}};
  std::vector<io::OutputTensor> masks, apply;
  for (const PlannedTensor& it : plan.tensors) {
    const io::TensorInfo& t = *it.tensor.info;
    if (it.selected && args.mask_bits && !args.output.empty() && t.shape[1] % 8 != 0)
      throw Error(it.tensor.file->path() + ": tensor '" + t.name + "': --mask-format bits needs columns that are a "
                  "multiple of 8, and it has " + std::to_string(t.shape[1]) + " (leave it out with --exclude, or "
                  "write bytes)");
    if (it.selected) masks.push_back({t.name, io::SafetensorsDType::U8, mask_shape(t.shape, args)});
    apply.push_back({t.name, t.dtype, t.shape});
  }
  plan.masks = io::plan_safetensors(masks, metadata);
  std::map<std::string, std::string> apply_metadata = metadata;
  apply_metadata.erase("mask_format");
  apply_metadata["tsenor"] = std::string(args.layer_method.empty() ? "weights pruned" : "weights pruned and updated") +
                             " with " + (args.rows_pattern ? "standard" : "transposable") + " N:M masks, tsenor " +
                             TSENOR_VERSION;
  plan.apply = io::plan_safetensors(apply, apply_metadata);
  std::size_t k = 0, a = 0;
  for (PlannedTensor& it : plan.tensors) {
    if (it.selected) it.mask_offset = plan.masks.offsets[k++];
    it.apply_offset = plan.apply.offsets[a++];
  }
}

}  // namespace

PrunePlan plan_prune(const io::Checkpoint& checkpoint, const io::SafetensorsFile* stats, const Args& args, int ranks) {
  PrunePlan plan;
  for (const auto& t : checkpoint.tensors()) plan.tensors.push_back(PlannedTensor{t});
  select(plan.tensors, args);
  if (stats && args.layer_method.empty())
    attach_stats(plan.tensors, *stats);
  else if (stats)
    attach_calibration(plan.tensors, *stats);
  if (std::none_of(plan.tensors.begin(), plan.tensors.end(), [](const PlannedTensor& it) { return it.selected; }))
    throw Error(args.input + ": no tensor is selected for pruning (see 'tsenor prune --dry-run')");
  assign_ranks(plan.tensors, ranks);
  plan_outputs(plan, args);
  return plan;
}

void print_dry_run(const PrunePlan& plan, const io::Checkpoint& checkpoint, const Args& args) {
  std::size_t selected = 0;
  std::uint64_t weights = 0;
  std::printf("tsenor prune --dry-run: %s (%zu file%s, %zu tensors), %d:%d (N kept per M), method = %s\n",
              args.input.c_str(), checkpoint.files().size(), checkpoint.files().size() == 1 ? "" : "s",
              plan.tensors.size(), args.options.n, args.options.m, pruning_method(args).c_str());
  for (const PlannedTensor& it : plan.tensors) {
    const io::TensorInfo& t = *it.tensor.info;
    if (it.selected) {
      ++selected;
      weights += t.elements();
      std::printf("  prune  %s  %s %s%s%s\n", t.name.c_str(), io::dtype_name(t.dtype), shape_text(t.shape).c_str(),
                  !it.stats ? "" : it.gram ? "  gram " : "  activations ", it.stats ? it.stats->name.c_str() : "");
    } else {
      std::printf("  skip   %s  %s %s  (%s)\n", t.name.c_str(), io::dtype_name(t.dtype), shape_text(t.shape).c_str(),
                  it.reason.c_str());
    }
  }
  std::printf("would prune %zu of %zu tensors (%llu weights); nothing written\n", selected, plan.tensors.size(),
              static_cast<unsigned long long>(weights));
}

}  // namespace tsenor::tool
