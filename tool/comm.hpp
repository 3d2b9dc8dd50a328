// The few collective operations 'tsenor prune' needs, over MPI_COMM_WORLD in an MPI build
// (TSENOR_WITH_MPI) and trivial for one process otherwise, so the command is written once.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#ifdef TSENOR_WITH_MPI
#include <mpi.h>
#endif

namespace tsenor::tool {

class Comm {
 public:
  /// Initialises MPI when the tool was started by mpirun (or always, in an MPI build: a singleton
  /// run is one rank), and finalises it on destruction.
  Comm() {
#ifdef TSENOR_WITH_MPI
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      MPI_Init(nullptr, nullptr);
      owner_ = true;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &local_rank_);
    MPI_Comm_size(local, &local_size_);
    MPI_Comm_free(&local);
#endif
  }
  ~Comm() {
#ifdef TSENOR_WITH_MPI
    if (owner_) MPI_Finalize();
#endif
  }
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  /// Rank and number of ranks on this node: picks the node-local GPU and the share of cores.
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }

  void barrier() const {
#ifdef TSENOR_WITH_MPI
    MPI_Barrier(MPI_COMM_WORLD);
#endif
  }
  /// True on every rank if `flag` is true on any rank.
  bool any(bool flag) const {
#ifdef TSENOR_WITH_MPI
    int local = flag ? 1 : 0, global = 0;
    MPI_Allreduce(&local, &global, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return global != 0;
#else
    return flag;
#endif
  }
  double max(double v) const {
#ifdef TSENOR_WITH_MPI
    double global = v;
    MPI_Allreduce(&v, &global, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return global;
#else
    return v;
#endif
  }
  /// Rank 0's value of `v`, on every rank.
  long long broadcast(long long v) const {
#ifdef TSENOR_WITH_MPI
    MPI_Bcast(&v, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
#endif
    return v;
  }
  /// Every rank's string, in rank order, on rank 0 (empty elsewhere).
  std::vector<std::string> gather(const std::string& text) const {
#ifdef TSENOR_WITH_MPI
    int length = static_cast<int>(text.size());
    std::vector<int> lengths(size_), displacements(size_);
    MPI_Gather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
    std::string all;
    if (rank_ == 0) {
      int at = 0;
      for (int r = 0; r < size_; ++r) {
        displacements[r] = at;
        at += lengths[r];
      }
      all.resize(static_cast<std::size_t>(at));
    }
    MPI_Gatherv(text.data(), length, MPI_CHAR, all.data(), lengths.data(), displacements.data(), MPI_CHAR, 0,
                MPI_COMM_WORLD);
    std::vector<std::string> parts;
    if (rank_ == 0)
      for (int r = 0; r < size_; ++r) parts.push_back(all.substr(displacements[r], lengths[r]));
    return parts;
#else
    return {text};
#endif
  }

 private:
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  bool owner_ = false;
};

}  // namespace tsenor::tool
