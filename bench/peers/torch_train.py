#!/usr/bin/python3
"""Peer benchmark: one training step (forward + MSE loss + backward + Adam) of a CIFAR ResNet-18 in PyTorch CPU,
the same architecture as the engine's cifarResNet18Spec (lib/train/models.ts), and the eval forward.

Usage: torch_train.py '{"width": 64, "batch": 128, "threads": 1, "repeats": 3, "mode": "train"|"forward"}'
Prints JSON: median/min/max seconds, torch version, threads, peak RSS (MiB, ru_maxrss of this process).
"""
import json
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, ci, co, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(ci, co, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(co)
        self.conv2 = nn.Conv2d(co, co, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(co)
        self.shortcut = nn.Sequential()
        if stride != 1 or ci != co:
            self.shortcut = nn.Sequential(nn.Conv2d(ci, co, 1, stride, bias=False), nn.BatchNorm2d(co))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class ResNet18(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.conv1 = nn.Conv2d(3, w, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        layers, ci = [], w
        for s, co in enumerate([w, 2 * w, 4 * w, 8 * w]):
            layers += [Block(ci, co, 1 if s == 0 else 2), Block(co, co, 1)]
            ci = co
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return torch.flatten(F.adaptive_avg_pool2d(self.layers(F.relu(self.bn1(self.conv1(x)))), 1), 1)


def main():
    spec = json.loads(sys.argv[1])
    torch.set_num_threads(spec.get("threads", 1))
    torch.manual_seed(0)
    w, b = spec["width"], spec["batch"]
    model = ResNet18(w)
    x = torch.randn(b, 3, 32, 32)
    target = torch.randn(b, 8 * w)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-6)

    def train_step():
        model.train()
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(x), target)
        loss.backward()
        opt.step()

    def forward():
        model.eval()
        with torch.no_grad():
            model(x)

    fn = train_step if spec.get("mode", "train") == "train" else forward
    fn()  # warm-up
    times = []
    for _ in range(spec.get("repeats", 3)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    print(json.dumps({"median": times[len(times) // 2], "min": times[0], "max": times[-1], "torch": torch.__version__,
                      "threads": torch.get_num_threads(),
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
