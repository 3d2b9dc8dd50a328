#pragma once
// Reading score matrices and writing masks in NumPy's .npy format.
//
// .npy is what pruning pipelines (PyTorch, JAX, NumPy) can dump and load without extra packages, so it is the
// exchange format of the command-line tool. Only what that job needs is supported: 2-D arrays of little-endian
// float16/32/64 scores and uint8/bool masks, in C or Fortran order, format versions 1.0, 2.0 and 3.0. Anything
// else is rejected with an NpyError rather than guessed at, because a misread score matrix still yields a valid-
// looking mask. No third-party dependency: the header is a Python dict literal, parsed by a small strict parser.
//
// Byte order is decoded explicitly, so the code is also correct on a big-endian host.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "tsenor/io/files.hpp"

namespace tsenor::io {

/// Element types the tool reads. uint8 covers both '|u1' and bool '|b1' files, which are the same bytes on disk.
enum class NpyDType { float16, float32, float64, uint8 };

/// NumPy's name for the type ("float16", ...), for messages.
const char* dtype_name(NpyDType);

/// Every problem with a file: one line, "<path>: <problem>", so the tool can print it as is and a user can act
/// on it without a debugger. Thrown for unreadable, malformed, unsupported and truncated files alike.
class NpyError : public std::runtime_error {
  using runtime_error::runtime_error;
};

/// A 2-D array converted to row-major. The values keep the file's precision instead of being forced to one type,
/// so the caller decides whether float64 scores are solved in double or rounded once, knowingly.
struct Matrix {
  std::size_t rows = 0, cols = 0;
  NpyDType stored_dtype = NpyDType::float32;  ///< the dtype found in the file
  std::vector<float> f32;               ///< filled for float16 and float32 input (float16 widened exactly)
  std::vector<double> f64;              ///< filled for float64 input
};

/// Reads a 2-D float16, float32 or float64 array. Fortran-order files are transposed to row-major. A matrix
/// with zero rows or columns is returned as is: whether it is an error is the caller's call. Trailing bytes
/// after the data are rejected, as they mean the header and the data disagree.
/// Throws NpyError, also for uint8/bool files (a mask passed where scores were meant). `on_header`, when given, is
/// called once the header has been checked and before the data is read, with the shape and stored dtype: a caller
/// can prepare for the matrix while it is read.
Matrix read_npy_matrix(const std::string& path,
                       const std::function<void(std::size_t rows, std::size_t cols, NpyDType dtype)>& on_header = {});

/// Appends a row-major uint8 matrix to `file` with a version 1.0 header byte-identical to numpy.save's (data
/// starts at a multiple of 64 bytes). Committing the file (and so replacing an older one) is the caller's step,
/// once every output of the run is complete. Throws NpyError or FileError.
void write_npy_u8(OutputFile& file, std::size_t rows, std::size_t cols, const std::uint8_t* data);

/// The same, as a complete file: `path` is checked (check_output), written through a temporary file and
/// renamed, so it holds either its previous content or the complete new file, never a partial one. Throws
/// NpyError.
void write_npy_u8(const std::string& path, std::size_t rows, std::size_t cols, const std::uint8_t* data);

/// Reads a 2-D uint8 ('|u1', '<u1') or bool ('|b1') mask, row-major. Bool entries come back as 0 or 1; uint8
/// entries are returned unchanged (checking that they are 0/1 is the caller's call). Throws NpyError, also for
/// float files.
std::vector<std::uint8_t> read_npy_mask(const std::string& path, std::size_t& rows, std::size_t& cols);

}  // namespace tsenor::io
