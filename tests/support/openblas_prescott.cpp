// Preloaded in front of OpenBLAS by tests/test_prune.py: OpenBLAS's openblas_get_corename as it answers on a CPU
// it does not recognise (its Prescott kernels), so that the tool's restart with OPENBLAS_CORETYPE is tested on
// any x86-64 machine.
extern "C" char* openblas_get_corename(void) {
  static char name[] = "Prescott";
  return name;
}
