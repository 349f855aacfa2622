#!/usr/bin/python3
"""Peer benchmark: float32 GEMM through numpy (Debian's numpy on OpenBLAS).

Usage:  numpy_sgemm.py '[[M, N, K], {"m": 64, "n": 32768, "k": 576, "trans": "NT"}, ...]'
        (or the same JSON on stdin). Optional second argument / env: repeats (PEER_REPEATS, default 7).

Each shape is timed as C = op(A) @ op(B) on float32 arrays (trans "NN" default, "NT", "TN", "TT"; a
transposed operand is a transposed view, so OpenBLAS sees the same layout the engine does). One warm-up,
then `repeats` timed runs; prints one JSON object with median/min/max seconds and GFLOP/s per shape, plus
which BLAS / OpenBLAS kernel and thread count ran.

Threads: OPENBLAS_NUM_THREADS as set by the caller. OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are removed from
this process's environment before numpy loads (they force an older, slower kernel on current OpenBLAS);
the caller should also unset them for this process alone (env -u ...), which is the reliable way.
PEER_KEEP_OPENBLAS_ENV=1 skips the removal (to measure the forced kernel for comparison).
"""
import json
import os
import sys

# PEER_KEEP_OPENBLAS_ENV=1 keeps them (to measure the kernel they force, for comparison only).
REMOVED = {} if os.environ.get("PEER_KEEP_OPENBLAS_ENV") == "1" else \
    {k: os.environ.pop(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}

import ctypes  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402


def blas_info():
    info = {"numpy": np.__version__, "removed_env": REMOVED,
            "openblas_num_threads_env": os.environ.get("OPENBLAS_NUM_THREADS")}
    try:
        import threadpoolctl  # type: ignore
        info["threadpoolctl"] = threadpoolctl.threadpool_info()
        for lib in info["threadpoolctl"]:
            if lib.get("internal_api") == "openblas":
                info["corename"] = lib.get("architecture")
                info["threads"] = lib.get("num_threads")
        return info
    except ImportError:
        pass
    # No threadpoolctl: find the BLAS numpy actually loaded and ask OpenBLAS directly.
    a = np.ones((4, 4), np.float32)
    _ = a @ a
    libs = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1]
                if ("blas" in p or "openblas" in p) and p.endswith(tuple(".so" + s for s in ("", ".0", ".3"))) \
                        and p not in libs:
                    libs.append(p)
    except OSError:
        pass
    info["loaded_blas"] = libs
    for p in libs:
        try:
            lib = ctypes.CDLL(p)
        except OSError:
            continue
        if hasattr(lib, "openblas_get_corename"):
            lib.openblas_get_corename.restype = ctypes.c_char_p
            lib.openblas_get_config.restype = ctypes.c_char_p
            info["corename"] = lib.openblas_get_corename().decode()
            info["config"] = lib.openblas_get_config().decode()
            if hasattr(lib, "openblas_get_num_threads"):
                info["threads"] = lib.openblas_get_num_threads()
            info["library"] = p
            break
    return info


def parse_shape(s):
    if isinstance(s, dict):
        return int(s["m"]), int(s["n"]), int(s["k"]), str(s.get("trans", "NN")).upper()
    m, n, k = (int(x) for x in s[:3])
    return m, n, k, (str(s[3]).upper() if len(s) > 3 else "NN")


def time_shape(m, n, k, trans, repeats, rng):
    ta, tb = trans[0] == "T", trans[1] == "T"
    a = rng.standard_normal((k, m) if ta else (m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n), dtype=np.float32)
    oa, ob = (a.T if ta else a), (b.T if tb else b)
    out = np.empty((m, n), np.float32)
    flop = 2.0 * m * n * k
    np.matmul(oa, ob, out=out)  # warm-up
    # Enough inner iterations that one sample lasts >= ~50 ms.
    t0 = time.perf_counter()
    np.matmul(oa, ob, out=out)
    one = max(time.perf_counter() - t0, 1e-7)
    inner = max(1, int(0.05 / one))
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            np.matmul(oa, ob, out=out)
        samples.append((time.perf_counter() - t0) / inner)
    samples.sort()
    med = samples[len(samples) // 2]
    return {"m": m, "n": n, "k": k, "trans": trans, "inner": inner, "repeats": repeats,
            "median_s": med, "min_s": samples[0], "max_s": samples[-1],
            "gflops_median": flop / med / 1e9, "gflops_best": flop / samples[0] / 1e9}


def main():
    if len(sys.argv) > 1 and sys.argv[1] != "-":
        shapes = json.loads(sys.argv[1])
    else:
        shapes = json.loads(sys.stdin.read())
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else int(os.environ.get("PEER_REPEATS", "7"))
    rng = np.random.default_rng(1234)
    results = [time_shape(*parse_shape(s), repeats, rng) for s in shapes]
    print(json.dumps({"peer": "numpy-openblas", "blas": blas_info(), "results": results}, indent=1))


if __name__ == "__main__":
    main()
