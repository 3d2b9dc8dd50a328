"""Running the tool from the Python end-to-end tests: one environment and one command line for plain and MPI
runs."""
import os
import subprocess


def env():
    """The test environment: no OpenMP thread pinning; Open MPI allowed as root (CI) and oversubscribed."""
    e = dict(os.environ)
    e.setdefault("OMP_PROC_BIND", "false")
    e.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    e.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    e.setdefault("OMPI_MCA_rmaps_base_oversubscribe", "1")
    return e


def run(tool, args, cwd, timeout, mpiexec=None, ranks=0):
    """tool *args in cwd, under `mpiexec -n ranks` when ranks > 0; the CompletedProcess (text output)."""
    cmd = [tool, *map(str, args)]
    if ranks:
        cmd = [mpiexec, "--oversubscribe", "-n", str(ranks), *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env(), cwd=cwd)
