"""PyTorch peer for bench/loss.bench.ts: MIMIC's three losses with autograd, forward + backward w.r.t. the
student's tensors, timed (median seconds) on the same shapes. Argument: JSON
{"batch": 128, "probes": [[C, H, W], ...], "features": 512, "proj_rows": 256, "proj_dim": 128, "tau": 0.5,
 "threads": T, "repeats": R}.  Prints one JSON line {"torch": version, "threads": T, "clone": s, "attention": s,
 "ntxent": s}.
"""
import json
import sys
import time

import torch
import torch.nn.functional as F


def median_time(fn, repeats):
    fn()  # warm-up
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    ts.sort()
    return ts[len(ts) // 2]


def at(x, p=2):
    a = x.abs().pow(p).sum(dim=1).flatten(1)
    return a / (a.norm(dim=1, keepdim=True) + 1e-6)


def main():
    cfg = json.loads(sys.argv[1])
    torch.set_num_threads(int(cfg.get("threads", 1)))
    torch.manual_seed(0)
    B, reps, tau = cfg["batch"], cfg["repeats"], cfg["tau"]

    s = torch.randn(B, cfg["features"], requires_grad=True)
    t = torch.randn(B, cfg["features"])

    def clone():
        s.grad = None
        loss = -(F.normalize(s, dim=1) * F.normalize(t, dim=1)).sum(dim=1).mean()
        loss.backward()

    studs = [torch.randn(B, c, h, w, requires_grad=True) for c, h, w in cfg["probes"]]
    teach = [torch.randn(B, c, h, w) for c, h, w in cfg["probes"]]

    def attention():
        total = 0
        for x, y in zip(studs, teach):
            x.grad = None
            total = total + (at(x) - at(y)).pow(2).mean()
        total.backward()

    N, D = cfg["proj_rows"], cfg["proj_dim"]
    u = torch.randn(N, D, requires_grad=True)
    half = N // 2
    pos = torch.cat([torch.arange(half, N), torch.arange(0, half)])
    eye = torch.eye(N, dtype=torch.bool)

    def ntxent():
        u.grad = None
        z = F.normalize(u, dim=1)
        sim = (z @ z.t()) / tau
        sim = sim.masked_fill(eye, float("-inf"))
        loss = (torch.logsumexp(sim, dim=1) - sim[torch.arange(N), pos]).mean()
        loss.backward()

    out = {"torch": torch.__version__, "threads": torch.get_num_threads(),
           "clone": median_time(clone, reps), "attention": median_time(attention, reps),
           "ntxent": median_time(ntxent, reps)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
