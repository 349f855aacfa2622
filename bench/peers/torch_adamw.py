"""PyTorch peer for bench/copy.bench.ts: one torch.optim.AdamW step over parameters of the given sizes (gradients
set once), timed (median seconds over the repeats). Argument: JSON {"sizes": [n, ...], "lr": 1e-3,
"weight_decay": 0.01, "threads": T, "repeats": R}. Prints one JSON line {"torch": version, "threads": T, "step": s}.
"""
import json
import sys
import time

import torch


def main():
    cfg = json.loads(sys.argv[1])
    torch.set_num_threads(int(cfg.get("threads", 1)))
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(n)) for n in cfg["sizes"]]
    for p in params:
        p.grad = torch.randn_like(p)
    opt = torch.optim.AdamW(params, lr=cfg.get("lr", 1e-3), weight_decay=cfg.get("weight_decay", 0.01))
    opt.step()  # warm-up: allocates the moment buffers
    ts = []
    for _ in range(int(cfg["repeats"])):
        t0 = time.perf_counter()
        opt.step()
        ts.append(time.perf_counter() - t0)
    ts.sort()
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "step": ts[len(ts) // 2]}))


if __name__ == "__main__":
    main()
