// cuBLAS and cuSOLVER for the CUDA backend, opened at run time (dlopen) rather than linked: tsenor then
// builds and runs without them (Kokkos Kernels' GEMM and a host LAPACK factorisation instead), and a
// Python wheel uses the ones its process already has (PyTorch's), of whatever CUDA version the driver
// takes: their C interface has not changed since CUDA 11. The handles are made once per process and
// never destroyed (the process's exit releases them); their calls are serialised by the caller (the
// tool is single-threaded; the Python package holds a lock around every call).
#pragma once

#include <Kokkos_Core.hpp>

#if defined(KOKKOS_ENABLE_CUDA)

#include <cublas_v2.h>
#include <cusolverDn.h>
#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <string>

namespace tsenor::layers::detail {

struct CudaVendor {
  decltype(&cublasSetStream_v2) blas_set_stream = nullptr;
  decltype(&cublasSgemm_v2) sgemm = nullptr;
  decltype(&cublasDgemm_v2) dgemm = nullptr;
  decltype(&cusolverDnSetStream) solver_set_stream = nullptr;
  decltype(&cusolverDnDpotrf_bufferSize) potrf_size = nullptr;
  decltype(&cusolverDnDpotrf) potrf = nullptr;
  decltype(&cusolverDnXtrtri_bufferSize) trtri_size = nullptr;
  decltype(&cusolverDnXtrtri) trtri = nullptr;
  decltype(&cusolverDnDsyevd_bufferSize) syevd_size = nullptr;
  decltype(&cusolverDnDsyevd) syevd = nullptr;
  cublasHandle_t blas = nullptr;
  cusolverDnHandle_t solver = nullptr;
};

inline void* open_first(std::initializer_list<const char*> names) {
  for (const char* name : names)
    if (void* library = ::dlopen(name, RTLD_NOW | RTLD_GLOBAL)) return library;
  return nullptr;
}

template <class F>
bool find_symbol(void* library, const char* name, F& into) {
  into = reinterpret_cast<F>(::dlsym(library, name));
  return into != nullptr;
}

/// The loaded libraries, or nullptr when either is missing (or TSENOR_CUDA_LIBRARIES=off): then the
/// layer methods use Kokkos Kernels' GEMM and factorise on the host. Looked up once per process, by
/// soname, newest first, on the dynamic linker's path (LD_LIBRARY_PATH) and among the loaded libraries.
inline const CudaVendor* cuda_vendor() {
  static const CudaVendor* const loaded = []() -> const CudaVendor* {
    const char* setting = std::getenv("TSENOR_CUDA_LIBRARIES");
    if (setting && std::strcmp(setting, "off") == 0) return nullptr;
    void* blas = open_first({"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"});
    void* solver = open_first({"libcusolver.so.12", "libcusolver.so.11", "libcusolver.so"});
    if (!blas || !solver) return nullptr;
    static CudaVendor v;
    decltype(&cublasCreate_v2) blas_create = nullptr;
    decltype(&cusolverDnCreate) solver_create = nullptr;
    const bool found =
        find_symbol(blas, "cublasCreate_v2", blas_create) && find_symbol(blas, "cublasSetStream_v2", v.blas_set_stream) &&
        find_symbol(blas, "cublasSgemm_v2", v.sgemm) && find_symbol(blas, "cublasDgemm_v2", v.dgemm) &&
        find_symbol(solver, "cusolverDnCreate", solver_create) &&
        find_symbol(solver, "cusolverDnSetStream", v.solver_set_stream) &&
        find_symbol(solver, "cusolverDnDpotrf_bufferSize", v.potrf_size) &&
        find_symbol(solver, "cusolverDnDpotrf", v.potrf) &&
        find_symbol(solver, "cusolverDnXtrtri_bufferSize", v.trtri_size) &&
        find_symbol(solver, "cusolverDnXtrtri", v.trtri) &&
        find_symbol(solver, "cusolverDnDsyevd_bufferSize", v.syevd_size) &&
        find_symbol(solver, "cusolverDnDsyevd", v.syevd);
    if (!found || blas_create(&v.blas) != CUBLAS_STATUS_SUCCESS ||
        solver_create(&v.solver) != CUSOLVER_STATUS_SUCCESS)
      return nullptr;
    return &v;
  }();
  return loaded;
}

}  // namespace tsenor::layers::detail

#endif
