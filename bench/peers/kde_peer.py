#!/usr/bin/python3
"""Peer benchmark for the batched KDE MI engine: the same maths done the usual way (materialise the N x N
squared-distance matrix, then log-sum-exp over it), in PyTorch (torch.cdist + torch.logsumexp) or NumPy
(Gram matrix through OpenBLAS + a manual max-shifted log-sum-exp). float32 throughout, like the engine.

Usage: kde_peer.py torch|numpy '<json spec>'
  spec: {"n": N, "dims": [D_1..D_L], "dz": D_Z, "factors": [..], "seed": s, "repeats": r, "threads": t}
        optional "device": "cuda" (torch only; TF32 off), "files": {"layers": [.npy..], "z": .npy} and "s2": {"layers": [[..]..], "z": [..]} to run on the
        engine's own arrays and bandwidths (the benchmark does this and compares the values).
Data: standard normal from numpy's default_rng(seed) (layer l scaled by 1 + l), features likewise; the engine's
benchmark passes the same arrays through .npy files when values are compared (see bench/kde.bench.ts).
Quantities: I_TZ, I_TZ_loo, I_TX_up, I_TX_low per layer and bandwidth; bandwidth sigma^2 = factor x the
median squared distance of 20000 sampled pairs (scale not timed on either side).
Prints one JSON object: median/min/max seconds, the values, library versions and threads.
"""
import json
import math
import os
import sys
import time

for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    os.environ.pop(k, None)

import numpy as np  # noqa: E402


def median_sq(x, rng):
    n = x.shape[0]
    i = rng.integers(0, n, 20000)
    j = rng.integers(0, n - 1, 20000)
    j = j + (j >= i)
    d = ((x[i].astype(np.float64) - x[j]) ** 2).sum(1)
    return float(np.median(d))


def run_torch(layers, z, s2t, s2z, threads, device="cpu"):
    import torch
    torch.set_num_threads(threads)
    torch.backends.cuda.matmul.allow_tf32 = False  # same precision as the engine: fp32 FMA distances
    dev = torch.device(device)
    T = [torch.from_numpy(t).to(dev) for t in layers]
    Z = torch.from_numpy(z).to(dev)
    n = Z.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=dev)
    lnN, lnN1 = math.log(n), math.log(n - 1)

    def go():
        out = []
        dz = torch.cdist(Z, Z) ** 2
        for l, t in enumerate(T):
            dt = torch.cdist(t, t) ** 2
            row = []
            for b, (st, sz) in enumerate(zip(s2t[l], s2z)):
                at, az = -dt / (2 * st), -dz / (2 * sz)
                aj = at + az
                lt, lz, lj = (torch.logsumexp(a, 1) for a in (at, az, aj))
                loo = [torch.logsumexp(a.masked_fill(eye, -math.inf), 1) for a in (at, az, aj)]
                low = torch.logsumexp(-dt / (8 * st), 1)
                row.append({
                    "I_TZ": lnN + float((lj - lt - lz).double().mean()),
                    "I_TZ_loo": lnN1 + float((loo[2] - loo[0] - loo[1]).double().mean()),
                    "I_TX_up": lnN - float(lt.double().mean()),
                    "I_TX_low": lnN - float(low.double().mean()),
                })
            out.append(row)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return out
    return go, {"torch": torch.__version__, "threads": torch.get_num_threads(), "device": device}


def lse_rows(a):
    m = a.max(1, keepdims=True)
    return (m[:, 0] + np.log(np.exp(a - m).sum(1))).astype(np.float64)


def run_numpy(layers, z, s2t, s2z, threads):
    n = z.shape[0]
    lnN, lnN1 = math.log(n), math.log(n - 1)
    diag = np.eye(n, dtype=bool)

    def sqd(x):
        x = x - x.mean(0, dtype=np.float64).astype(np.float32)
        g = x @ x.T
        nr = np.einsum("ij,ij->i", x, x)
        d = nr[:, None] + nr[None, :] - 2 * g
        np.maximum(d, 0, out=d)
        np.fill_diagonal(d, 0)
        return d

    def go():
        out = []
        dz = sqd(z)
        for l, t in enumerate(layers):
            dt = sqd(t)
            row = []
            for st, sz in zip(s2t[l], s2z):
                at, az = -dt / np.float32(2 * st), -dz / np.float32(2 * sz)
                aj = at + az
                lt, lz, lj = lse_rows(at), lse_rows(az), lse_rows(aj)
                loo = [lse_rows(np.where(diag, -np.inf, a)) for a in (at, az, aj)]
                low = lse_rows(-dt / np.float32(8 * st))
                row.append({
                    "I_TZ": lnN + float((lj - lt - lz).mean()),
                    "I_TZ_loo": lnN1 + float((loo[2] - loo[0] - loo[1]).mean()),
                    "I_TX_up": lnN - float(lt.mean()),
                    "I_TX_low": lnN - float(low.mean()),
                })
            out.append(row)
        return out
    return go, {"numpy": np.__version__, "threads": os.environ.get("OPENBLAS_NUM_THREADS")}


def main():
    lib = sys.argv[1]
    spec = json.loads(sys.argv[2])
    if "files" in spec:  # the engine's own arrays, so values can be compared
        layers = [np.load(f) for f in spec["files"]["layers"]]
        z = np.load(spec["files"]["z"])
    else:
        rng = np.random.default_rng(spec["seed"])
        n = spec["n"]
        layers = [(rng.standard_normal((n, d), dtype=np.float32) * (1 + l)) for l, d in enumerate(spec["dims"])]
        z = rng.standard_normal((n, spec["dz"]), dtype=np.float32)
    if "s2" in spec:  # the engine's sigma^2 values
        s2t, s2z = spec["s2"]["layers"], spec["s2"]["z"]
    else:
        srng = np.random.default_rng(0)
        s2t = [[f * median_sq(t, srng) for f in spec["factors"]] for t in layers]
        s2z = [f * median_sq(z, srng) for f in spec["factors"]]
    if lib == "torch":
        go, info = run_torch(layers, z, s2t, s2z, spec.get("threads", 1), spec.get("device", "cpu"))
    else:
        go, info = run_numpy(layers, z, s2t, s2z, spec.get("threads", 1))
    values = go()  # warm-up (also the values reported)
    times = []
    for _ in range(spec.get("repeats", 3)):
        t0 = time.perf_counter()
        go()
        times.append(time.perf_counter() - t0)
    times.sort()
    print(json.dumps({"lib": lib, "median": times[len(times) // 2], "min": times[0], "max": times[-1],
                      "values": values, "info": info}))


if __name__ == "__main__":
    main()
