#include "args.hpp"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <map>

#include "library_error.hpp"
#include "tsenor/compat.hpp"
#include "tsenor/error.hpp"

namespace tsenor::tool {

namespace {

[[noreturn]] void usage_error(const std::string& what) { throw Error(what + " (see 'tsenor --help')"); }

long parse_integer(const std::string& option, const std::string& text, long lo, long hi) {
  if (text.empty() || !(std::isdigit(static_cast<unsigned char>(text[0])) || text[0] == '-'))
    usage_error(option + ": '" + text + "' is not an integer in " + std::to_string(lo) + ".." + std::to_string(hi));
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || v < lo || v > hi)
    usage_error(option + ": '" + text + "' is not an integer in " + std::to_string(lo) + ".." + std::to_string(hi));
  return v;
}

double parse_real(const std::string& option, const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || std::isspace(static_cast<unsigned char>(text[0])) || *end != '\0' || errno != 0 ||
      !(v >= 0.0) || v > 1e300)
    usage_error(option + ": '" + text + "' is not a number in 0..1e300");
  return v;
}

}  // namespace

std::string pruning_method(const Args& args) {
  if (!args.layer_method.empty()) return args.layer_method;
  return args.activations.empty() ? "magnitude" : "wanda";
}

void parse_nm(const std::string& text, Options& options) {
  const auto colon = text.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    usage_error("--nm: '" + text + "' is not of the form N:M (N kept per M, e.g. 2:4)");
  const long n = parse_integer("--nm N", text.substr(0, colon), 0, 1000000);
  const long m = parse_integer("--nm M", text.substr(colon + 1), 0, 1000000);
  if (m < 2 || m > 128) usage_error("--nm: M = " + std::to_string(m) + " is outside 2..128");
  if (n < 1 || n >= m)
    usage_error("--nm: N = " + std::to_string(n) + " must satisfy 1 <= N < M = " + std::to_string(m) +
                " (N counts the KEPT entries)");
  options.n = static_cast<int>(n);
  options.m = static_cast<int>(m);
}

Args parse_args(const std::vector<std::string>& argv) {
  Args a;
  if (argv.empty()) return a;
  const std::string& cmd = argv[0];
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    a.help_topic = argv.size() > 1 ? argv[1] : "";
    if (!a.help_topic.empty() && a.help_topic != "mask" && a.help_topic != "verify" && a.help_topic != "prune")
      usage_error("no help for '" + a.help_topic + "' (commands: mask, verify, prune)");
    return a;
  }
  if (cmd == "--version") {
    a.command = Command::version;
    return a;
  }
  if (cmd == "mask") {
    a.command = Command::mask;
  } else if (cmd == "verify") {
    a.command = Command::verify;
  } else if (cmd == "prune") {
    a.command = Command::prune;
  } else {
    usage_error("unknown command '" + cmd + "'");
  }
  std::map<std::string, std::string> given;  // the value options seen so far
  const bool prune = a.command == Command::prune;
  const bool mask = a.command == Command::mask || prune;  // prune takes the options of mask, and its own
  for (std::size_t k = 1; k < argv.size(); ++k) {
    const std::string& opt = argv[k];
    if (opt == "-h" || opt == "--help") {
      a.command = Command::help;
      a.help_topic = cmd;
      return a;
    }
    // An option given twice is an error (only --include and --exclude repeat): with "the last one wins", a
    // wrapper's default --input would slip past the checks of the one the user meant.
    auto value = [&]() -> const std::string& {
      if (k + 1 >= argv.size()) usage_error(opt + " needs a value");
      if (argv[k + 1].empty()) usage_error(opt + " needs a value (got an empty string)");
      if (opt != "--include" && opt != "--exclude" && !given.emplace(opt, argv[k + 1]).second)
        usage_error(opt + " is given twice ('" + given[opt] + "' and '" + argv[k + 1] + "')");
      return argv[++k];
    };
    if (opt == "--nm") {
      parse_nm(value(), a.options);
      a.nm_given = true;
    } else if (opt == "--zero-pad") {
      a.options.zero_pad = true;
    } else if (opt == "--quiet" || opt == "-q") {
      a.quiet = true;
    } else if (!mask && opt == "--mask") {
      a.mask = value();
    } else if (mask && opt == "--input") {
      a.input = value();
    } else if (mask && opt == "--output") {
      a.output = value();
    } else if (mask && opt == "--report") {
      a.report = value();
    } else if (prune && opt == "--apply") {
      a.apply = value();
    } else if (prune && opt == "--activations") {
      a.activations = value();
    } else if (prune && opt == "--include") {
      a.include.push_back(value());
    } else if (prune && opt == "--exclude") {
      a.exclude.push_back(value());
    } else if (prune && opt == "--dry-run") {
      a.dry_run = true;
    } else if (prune && opt == "--max-chunk-mb") {
      a.max_chunk_mb = parse_integer(opt, value(), 1, 1L << 30);
    } else if (mask && !prune && opt == "--scores") {
      a.input_is_score = true;
    } else if (prune && opt == "--method" && k + 1 < argv.size() && (argv[k + 1] == "sparsegpt" || argv[k + 1] == "alps")) {
      a.layer_method = value();
    } else if (prune && opt == "--calibration") {
      a.calibration = value();
    } else if (prune && opt == "--pattern") {
      const std::string p = value();
      if (p != "transposable" && p != "rows") usage_error("--pattern: '" + p + "' is not transposable or rows");
      a.rows_pattern = p == "rows";
    } else if (prune && opt == "--mask-format") {
      const std::string f = value();
      if (f != "bytes" && f != "bits") usage_error("--mask-format: '" + f + "' is not bytes or bits");
      a.mask_bits = f == "bits";
    } else if (prune && opt == "--damp") {
      a.damp = parse_real(opt, value());
    } else if (mask && opt == "--method") {
      try {
        a.options.method = parse_method(value());
      } catch (const Error& e) {
        usage_error("--method: " + without_function(e));
      }
    } else if (mask && opt == "--tau") {
      a.options.tau = parse_real(opt, value());
    } else if (mask && opt == "--iterations") {
      a.options.max_iterations = static_cast<int>(parse_integer(opt, value(), 0, 1000000000));
    } else if (mask && opt == "--tolerance") {
      a.options.tolerance = parse_real(opt, value());
    } else if (mask && opt == "--local-search-steps") {
      a.options.local_search_steps = static_cast<int>(parse_integer(opt, value(), 0, 1000000));
    } else if (mask && opt == "--backend") {
      a.backend = value();  // checked against this build's backends by the command
    } else if (mask && opt == "--threads") {
      a.threads = static_cast<int>(parse_integer(opt, value(), 1, compat::max_openmp_threads));
    } else if (mask && opt == "--device-memory") {
      a.options.device_memory = static_cast<std::size_t>(parse_integer(opt, value(), 1, 1 << 30)) << 20;
    } else {
      usage_error("unknown option '" + opt + "' for 'tsenor " + cmd + "'");
    }
  }
  if (prune) {
    if (a.input.empty()) usage_error("prune needs --input CHECKPOINT (a .safetensors file, an index, or a directory)");
    if (a.output.empty() && a.apply.empty() && !a.dry_run)
      usage_error("prune needs --output MASKS.safetensors, --apply PRUNED.safetensors or --dry-run");
    if (a.options.zero_pad) usage_error("prune: --zero-pad is not supported; use --include/--exclude instead");
    if (!a.layer_method.empty() && a.calibration.empty())
      usage_error("prune --method " + a.layer_method + " needs --calibration FILE (Gram matrices or activations)");
    if (a.layer_method.empty() && !a.calibration.empty())
      usage_error("prune: --calibration is for --method sparsegpt or alps; Wanda's statistics go in --activations");
    if (!a.layer_method.empty() && !a.activations.empty())
      usage_error("prune --method " + a.layer_method + ": --activations is for Wanda scores; give --calibration");
    if (a.layer_method.empty() && (given.count("--pattern") || given.count("--damp")))
      usage_error(std::string("prune: ") + (given.count("--pattern") ? "--pattern" : "--damp") +
                  " is for --method sparsegpt or alps");
  }
  if (a.command == Command::verify) {
    if (a.mask.empty()) usage_error("verify needs --mask PATH");
    if (!a.nm_given) usage_error("verify needs --nm N:M");
  }
  return a;
}

std::string help_text(const std::string& topic) {
  if (topic == "mask")
    return R"(usage: tsenor mask [--input W.npy] [--output mask.npy] [options]

Computes a transposable N:M mask: in every M x M tile (rows p*M..p*M+M-1, columns
q*M..q*M+M-1) exactly N entries are KEPT in each row and in each column, maximising the sum of
the kept scores. So both W and W^T are N:M sparse. N counts the kept entries: 2:4 keeps half.

Input and output
  --input PATH        2-D .npy (float16, float32 or float64; C or Fortran order). Without it,
                      a built-in 1024 x 1024 example matrix is used (nothing is written unless
                      --output is given).
  --scores            the input already holds scores (finite, >= 0); default: scores = |W|
  --output PATH       uint8 .npy of the input's shape, 1 = kept; /dev/null is fine
  --report PATH       machine-readable JSON report of the run
  --quiet, -q         no summary on stdout

Pattern and method
  --nm N:M            N kept per M (default 2:4); 1 <= N < M <= 128
  --method NAME       auto (default: the best measured method for the backend; 'exact'
                      on CPUs and on GPUs), exact (optimal per tile), entropic (the TSENOR
                      paper's method: entropic optimal transport by Dykstra + greedy rounding +
                      local search + repair; 'tsenor' is accepted for it), greedy (fast baseline)
  --tau X             entropic: sharpness on per-tile max-normalised scores
                      (default 1000, measured: see README, "Defaults")
  --iterations K      entropic: Dykstra iteration cap (default 300)
  --tolerance X       entropic: stop when row/column sums are within X*N of N (default 1e-4)
  --local-search-steps K
                      entropic, greedy: improvement passes after rounding (default 8)
  --zero-pad          accept shapes that are not multiples of M: border tiles are padded with
                      zero scores, solved, and cropped (cropped border tiles keep at most N per
                      row/column). Without it such shapes are an error.

Execution
  --backend NAME      auto (default: Kokkos' default execution space, the GPU in a GPU
                      build), or one of this build's backends: serial, openmp, threads, cuda,
                      hip ('tsenor --version' lists them)
  --threads T         threads for the openmp backend, 1..512 (default: Kokkos' default, which
                      follows OMP_NUM_THREADS)
  --device-memory MB  GPU backends: bound on the GPU memory used (default 1024); a larger
                      matrix goes through in chunks of whole tile rows, with the same mask.
                      The report's device_bytes says what was used.

Your files are safe: --output and --report may not name the input (by any spelling, symlink or
hard link) or each other, and are written to PATH.tsenor-tmp.<pid>, then renamed onto PATH once both
are complete: a failed or interrupted run leaves an older PATH exactly as it was. Without
--input, an existing --output file is not replaced by the example's mask. /dev/null and
/dev/stdout work as you mean them. A PATH.tsenor-tmp.<pid> left by a killed run (kill -9) is
removed by the next run to PATH once process <pid> is gone and nothing holds the file's lock.

Every tile of the output is exactly N-regular; results are bit-identical across backends and
thread counts. Exit status: 0 on success, 2 on a usage or input error, 3 if a tile came out
not N-regular (a bug: please report it), 128+S when interrupted by signal S (130: Ctrl-C).
)";
  if (topic == "prune")
    return R"(usage: tsenor prune --input CHECKPOINT --output MASKS.safetensors [options]
       mpirun -n K tsenor prune ...        (in a build with TSENOR_ENABLE_MPI=ON)

Computes transposable N:M masks for the linear layers of a safetensors checkpoint: in every
M x M tile of each selected weight, exactly N entries are KEPT per row and per column. Tensors
are streamed from disk a chunk of tile rows at a time; the model is never loaded whole.

Input
  --input PATH        a .safetensors file, a model.safetensors.index.json, or a directory
                      holding either an index (sharded checkpoint) or one model.safetensors.
                      Weights in F32, F16 or BF16.
  --activations PATH  Wanda scores |W_ij| * ||X_j|| instead of |W_ij|: a .safetensors file
                      with, for each pruned weight 'L.weight', a tensor named 'L.weight' or 'L'
                      holding either the column norms ||X_j|| (1-D, length = the weight's
                      columns) or raw calibration activations (..., columns), whose column
                      norms the tool computes (Kokkos Kernels).

Selection (which tensors are pruned)
  default             2-D F32/F16/BF16 tensors named '*.weight' whose both dimensions are
                      multiples of M, except embeddings (a name part containing 'embed',
                      'wte', 'wpe'), output heads ('lm_head', 'head', top-level 'output') and
                      norms (a part containing 'norm', 'ln', 'ln_*'); biases are 1-D.
  --include GLOB      prune the tensors whose name matches GLOB (shell pattern, e.g.
                      '*.mlp.*'), instead of the default rule; repeatable. The 2-D, dtype
                      and multiple-of-M conditions still apply.
  --exclude GLOB      do not prune tensors matching GLOB; repeatable
  --dry-run           list every tensor with 'prune' or 'skip (reason)'; write nothing

Output
  --output PATH       masks: a .safetensors file with one U8 tensor (1 = kept, 0 = pruned)
                      per pruned weight, same name and shape; load it in Python with
                      safetensors.torch.load_file(PATH). Metadata: n_kept, m, method, scores,
                      mask_format.
  --mask-format F     bytes (default): one U8 per weight, as above; bits: 8 weights a byte, a
                      U8 tensor (rows, columns/8) per weight whose byte k of a row holds columns
                      8k..8k+7, column 8k+j in bit j (numpy.unpackbits(x, axis=1,
                      bitorder='little') gives the bytes back): 8x less to write, which is
                      what a prune to the disk it reads from waits for. Needs columns that are
                      a multiple of 8.
  --apply PATH        also write the pruned checkpoint as one .safetensors file: every tensor
                      of the input in its own dtype, pruned weights multiplied by their mask
                      (pruned entries exactly 0, kept entries bit for bit), others copied.
  --report PATH       JSON report: per tensor (shape, tiles, N:M, objective, N-regular tiles,
                      iterations, busy read/solve/write seconds, rank, and its timeline: when
                      each chunk was read, solved and written; perf/timeline_plot.py draws it)
                      and totals (bytes read, GB/s, seconds, peak resident memory of the
                      largest rank).
  --max-chunk-mb MB   the chunk: whole tile rows holding at most MB MiB of float32 scores
                      (default 64); the chunk size never changes the bytes written. Reading,
                      solving and writing overlap, chunk by chunk: on CPUs three chunks of raw
                      weights and masks are in memory and one of scores (peak about 3.5x MB
                      for BF16 weights, plus the program); on GPUs four chunks of raw weights
                      and masks in page-locked memory, and two on the GPU (--device-memory).
  --quiet, -q         no summary on stdout (progress is shown on stderr when it is a terminal)

Your files are safe: an output may not be an input (the index, any shard, --activations; compared
by device and inode, so no spelling, symlink or hard link gets past it), and must be a new file,
an existing regular file, or a character device such as /dev/null (written in place). Outputs go
to PATH.tsenor-tmp.<pid> and are renamed onto PATH only when the whole run has succeeded: a
failure or an interrupt leaves an older PATH exactly as it was. A PATH.tsenor-tmp.<pid> left by a
killed run (kill -9) is removed by the next run to PATH once process <pid> is gone and nothing
holds the file's lock.

Pattern, method and execution: as for 'tsenor mask' (--nm N:M, default 2:4; --method, --tau,
--iterations, --tolerance, --local-search-steps, --backend, --threads); see 'tsenor mask --help'.

SparseGPT and ALPS (weights updated to reconstruct each layer's outputs)
  --method sparsegpt  SparseGPT: column by column, each strip of M columns gets its mask from
                      the exact tile solver, and the remaining weights absorb the error (OBS)
  --method alps       ALPS: ADMM with the exact N:M projection, then conjugate gradients on the
                      final support; lower error than SparseGPT, several times slower
  --calibration PATH  a .safetensors file with, for each pruned weight 'L.weight', either its
                      inputs' Gram matrix H = X^T X as 'L.gram' (columns x columns; F64, F32,
                      F16 or BF16) or the raw inputs X as 'L.weight' or 'L' ((samples...,
                      columns), float), from which H is accumulated in double (Kokkos
                      Kernels' GEMM on the backend). Each layer uses its own inputs as given:
                      for the sequential pipeline (inputs of layer L taken from the already
                      pruned layers before it) use the Python package, tsenor.pipeline.
  --pattern P         transposable (default), or rows: the standard N:M (N of every M
                      consecutive weights of a row; only the rows of W are N:M)
  --damp X            added to H's diagonal, X * mean(diag H) (default 0.01)
  A weight is processed whole (--max-chunk-mb does not apply): it, H and a few matrices of its
  size are held at once, on the backend. --apply writes the updated weights rounded to the
  weight's dtype (to nearest even; pruned entries +0); the report adds, per tensor, the relative
  output error ||(W - W')X||^2 / ||WX||^2 with and without the update, and ALPS's rho history.

MPI: with K ranks, tensors are assigned to ranks deterministically (largest first, to the least
loaded rank); each rank writes its tensors into the shared temporary file at offsets computed
from the headers, so the output bytes are identical for every K. Each rank uses the GPU of its
node-local rank (modulo the node's GPUs); on CPUs, a node's cores are shared among its ranks.
Inputs and outputs must be on a file system all ranks see.

Exit status: 0 on success, 2 on a usage or input error (one line naming the file and tensor),
3 if a tile came out not N-regular (a bug: please report it), 128+S when interrupted by signal S.
)";
  if (topic == "verify")
    return R"(usage: tsenor verify --mask mask.npy --nm N:M [--zero-pad]

Checks that every M x M tile of a 2-D uint8/bool mask keeps exactly N entries in every row and
every column (N = kept per M). Prints the number of tiles that fail and the first few. With
--zero-pad, a shape that is not a multiple of M is accepted and cropped border tiles may keep
fewer than N per row/column (but never more).

Exit status: 0 if every tile is N-regular, 1 if any is not, 2 on a usage or input error.
)";
  return R"(usage: tsenor <command> [options]

Transposable N:M sparsity masks for weight matrices: in every M x M tile exactly N entries are
KEPT per row and per column, so both W x and W^T g run on N:M sparse tensor cores.

Commands
  mask      compute a mask from a weight or score matrix (.npy); without --input, runs on a
            built-in example matrix and prints a report
  verify    check that a mask is transposable N:M
  prune     masks for the linear layers of a safetensors checkpoint (file or shards)
  --help    this text; 'tsenor <command> --help' for a command's options
  --version the tool's version and its Kokkos configuration

Example
  tsenor mask --input W.npy --nm 8:16 --output mask.npy --report report.json
  tsenor verify --mask mask.npy --nm 8:16
  tsenor prune --input model_dir --nm 2:4 --output masks.safetensors --report report.json
)";
}

}  // namespace tsenor::tool
