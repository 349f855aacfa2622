#!/usr/bin/python3
"""Peer benchmark for bench/mimic.bench.ts: MIMIC's layer localisation as the authors run it, MINE with the
Donsker-Varadhan bound (github wssun/MIMIC, models/scheduler.py `estimate_mi`, estimator/DV.py, estimator/TNet.py;
our own code from shared/docs/MIMIC.md and the structure of theirs: nothing of it is copied).

For each probe layer l (the four stage outputs of a CIFAR ResNet-18, flattened, C*H*W values), a statistics
network T_l(x, z) = MLP(concat(x, z): C*H*W + d -> 512 -> ReLU -> 512 -> ReLU -> 1), z the L2-normalised pooled
features (d = 8w), is trained for `epochs` (authors: 200) epochs over the N clean images in batches of 128 (in
order, the last batch partial, as their un-shuffled loader), Adam lr 1e-3, weight decay 1e-5, maximising
    I_DV = mean T(x, z) - log mean exp T(x, z[perm])          (z shuffled within the batch)
and after every epoch the bound is evaluated over all batches (eval mode, no grad; negative or NaN counted as 0);
MI_l = the mean of the last 10 epochs' values. The log-mean-exp is computed with logsumexp (the authors write
log(exp(.).mean()), the same value when it does not overflow).

The encoder (a random-weight ResNet-18 in eval mode, seeded) runs on seeded synthetic images. By default its
activations are computed ONCE and cached ("cache": true), which is cheaper than the authors' loop; "cache": false
re-runs the encoder forward (no grad) on every batch of every training and evaluation pass, as their code does.
"time_epochs": k (< epochs) trains k epochs per layer and extrapolates the per-layer time to `epochs` linearly
(every epoch is the same work); the MI values are then those after k epochs (not converged).

Usage: torch_mine.py '{"width": 8, "n": 2000, "epochs": 200, "threads": 1, "cache": true, "time_epochs": 200}'
Prints one JSON line: seconds (total, measured or extrapolated), encoder seconds, per-layer seconds and MI values
(nats), the epochs measured, torch version and threads.
"""
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_mimic_step import ResNet18  # noqa: E402  (the same architecture as the training-step peer)


class TNet(nn.Module):
    def __init__(self, dx, dz, hidden=512):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dx + dz, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, 1))

    def forward(self, x, z):
        return self.net(torch.cat([x, z], dim=-1))


def dv_bound(T, x, z):
    n = z.shape[0]
    t0 = T(x, z)
    t1 = T(x, z[torch.randperm(n)])
    return t0.mean() - (torch.logsumexp(t1.flatten(), 0) - math.log(n))


def main():
    cfg = json.loads(sys.argv[1])
    threads = int(cfg.get("threads", 1))
    torch.set_num_threads(threads)
    torch.manual_seed(int(cfg.get("seed", 0)))
    w, n = int(cfg.get("width", 8)), int(cfg.get("n", 2000))
    epochs = int(cfg.get("epochs", 200))
    time_epochs = min(int(cfg.get("time_epochs", epochs)), epochs)
    bs = int(cfg.get("batch", 128))
    cache = bool(cfg.get("cache", True))
    layers_wanted = cfg.get("layers", [0, 1, 2, 3])

    encoder = ResNet18(w).eval()
    g = torch.Generator().manual_seed(1)
    images = torch.randn(n, 3, 32, 32, generator=g)
    batches = [(i, min(i + bs, n)) for i in range(0, n, bs)]

    def encode(lo, hi):
        with torch.no_grad():
            maps, feats = encoder.stage_outputs(images[lo:hi])
        return [m.flatten(1) for m in maps], torch.nn.functional.normalize(feats, dim=-1)

    t0 = time.perf_counter()
    cached = None
    if cache:
        parts = [encode(lo, hi) for lo, hi in batches]
        cached = ([torch.cat([p[0][l] for p in parts]) for l in range(4)], torch.cat([p[1] for p in parts]))
    encoder_seconds = time.perf_counter() - t0
    if not cache:  # one pass to learn the shapes, as the authors' setup does (not counted)
        probe_maps, probe_z = encode(0, 2)
    else:
        probe_maps, probe_z = [m[:2] for m in cached[0]], cached[1][:2]

    def batch_data(l, lo, hi):
        if cache:
            return cached[0][l][lo:hi], cached[1][lo:hi]
        maps, z = encode(lo, hi)
        return maps[l], z

    per_layer = []
    for l in layers_wanted:
        T = TNet(probe_maps[l].shape[1], probe_z.shape[1])
        opt = torch.optim.Adam(T.parameters(), lr=1e-3, weight_decay=1e-5)
        history = []
        t1 = time.perf_counter()
        for _ in range(time_epochs):
            T.train()
            for lo, hi in batches:
                x, z = batch_data(l, lo, hi)
                loss = -dv_bound(T, x, z)
                opt.zero_grad()
                loss.backward()
                opt.step()
            T.eval()
            total = 0.0
            with torch.no_grad():
                for lo, hi in batches:
                    x, z = batch_data(l, lo, hi)
                    v = dv_bound(T, x, z).item()
                    total += 0.0 if math.isnan(v) or v < 0 else v
            history.append(total / len(batches))
        measured = time.perf_counter() - t1
        per_layer.append({"layer": l, "dim": probe_maps[l].shape[1], "measured_seconds": measured,
                          "seconds": measured * epochs / time_epochs, "mi": sum(history[-10:]) / len(history[-10:])})
    total = encoder_seconds + sum(p["seconds"] for p in per_layer)
    print(json.dumps({"seconds": total, "encoder_seconds": encoder_seconds, "layers": per_layer, "n": n,
                      "features": probe_z.shape[1], "epochs": epochs, "time_epochs": time_epochs,
                      "extrapolated": time_epochs < epochs, "cache": cache, "torch": torch.__version__,
                      "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
