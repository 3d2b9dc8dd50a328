// tsenor: transposable N:M sparsity masks (every M×M tile keeps exactly N entries in each
// row and each column), computed with the TSENOR algorithm or exactly, on any Kokkos backend.
#pragma once

#include "tsenor/compute_mask.hpp"
#include "tsenor/error.hpp"
#include "tsenor/options.hpp"
#include "tsenor/verify.hpp"
