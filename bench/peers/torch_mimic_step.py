#!/usr/bin/python3
"""Peer benchmark for bench/mimic.bench.ts: one MIMIC training step in PyTorch CPU, structured as the authors'
public code (github wssun/MIMIC, MIMIC.py `train`) runs it; our own code, written from shared/docs/MIMIC.md and
the structure of their loop (nothing of theirs is copied: it has no licence).

Per step, on a batch of B precomputed 32x32 views (x1, x2):
  1. student(x1) -> unit-norm features f1 and unit-norm projection o1          (student forward 1, autograd)
  2. student(x2) -> o2                                                          (student forward 2, autograd)
  3. teacher(x1) -> unit-norm features f3                                       (teacher forward 1)
  4. NT-Xent(o1, o2), tau 0.5, written as the authors do (exp of the 2B x 2B similarity, off-diagonal masked
     select, -log(pos / row sum))
  5. clone = -mean_b <f3, f1>
  6. teacher(x1) again, stage by stage, for the four stage maps (teacher forward 2, detached)
  7. student(x1) again, stage by stage, for the four stage maps (student forward 3, autograd)
  8. attention transfer per stage: p = 2 maps summed over channels, L2-normalised over (h, w) (+1e-6), MSE,
     times beta_l; L = con + sum beta_l AT_l + clone; zero_grad, backward, Adam (lr 1e-2, wd 1e-6).
The authors' teacher is run on view 1 both times (MIMIC.py), not on view 2. By default the teacher runs under
no_grad (a frozen teacher); "teacher_graph": true reproduces their code exactly, where the teacher's parameters
still require grad and f3 is not detached, so the backward also runs through teacher forward 1.
The student (train mode) and the teacher (eval mode) are the CIFAR ResNet-18 of lib/train/models.ts
(cifarResNet18Spec: 3x3 stem stride 1, no max-pool, BasicBlocks w, 2w, 4w, 8w, global average pool); the student
has a projection head Linear(8w, 8w) -> ReLU -> Linear(8w, 128) as ours (the authors' head also has a
BatchNorm1d after the first Linear, without bias; "head_bn": true adds it).

Usage: torch_mimic_step.py '{"width": 8, "batch": 128, "threads": 1, "warmup": 1, "repeats": 5}'
Prints one JSON line: median/min/max wall seconds per step, median CPU seconds per step (process_time), the
losses of the last step, torch version and threads.
"""
import json
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
    """CIFAR ResNet-18 as a list of modules (stem, layer1..layer4, pool), as the authors' encoder is an
    nn.Sequential they walk module by module to read the stage outputs."""

    def __init__(self, w):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU())
        stages, ci = [], w
        for s, co in enumerate([w, 2 * w, 4 * w, 8 * w]):
            stages.append(nn.Sequential(Block(ci, co, 1 if s == 0 else 2), Block(co, co, 1)))
            ci = co
        self.stages = nn.ModuleList(stages)
        self.dim = 8 * w

    def forward(self, x):
        x = self.stem(x)
        for s in self.stages:
            x = s(x)
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def stage_outputs(self, x):
        """The four stage maps and the pooled features (one forward)."""
        outs = []
        x = self.stem(x)
        for s in self.stages:
            x = s(x)
            outs.append(x)
        return outs, torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


class SimCLR(nn.Module):
    def __init__(self, w, proj=128, head_bn=False):
        super().__init__()
        self.f = ResNet18(w)
        d = self.f.dim
        mid = [nn.Linear(d, d, bias=False), nn.BatchNorm1d(d)] if head_bn else [nn.Linear(d, d)]
        self.g = nn.Sequential(*mid, nn.ReLU(), nn.Linear(d, proj))

    def forward(self, x):
        feature = self.f(x)
        return F.normalize(feature, dim=-1), F.normalize(self.g(feature), dim=-1)


def attention_map(fm, p=2, eps=1e-6):
    a = fm.abs().pow(p).sum(dim=1, keepdim=True)
    return a / (torch.norm(a, dim=(2, 3), keepdim=True) + eps)


def at_loss(fs, ft):
    return F.mse_loss(attention_map(fs), attention_map(ft))


def make_views(b, seed):
    """Two fixed 'augmented' views, already normalised tensors (the augmentation itself is not timed)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 3, 32, 32, generator=g), torch.randn(b, 3, 32, 32, generator=g)


def main():
    cfg = json.loads(sys.argv[1])
    threads = int(cfg.get("threads", 1))
    torch.set_num_threads(threads)
    torch.manual_seed(int(cfg.get("seed", 0)))
    w, b = int(cfg["width"]), int(cfg["batch"])
    tau = float(cfg.get("tau", 0.5))
    beta = cfg.get("beta", [3500.0, 3500.0, 3500.0, 3500.0])  # 1000 + 10000 * MI_l / sum MI with equal MI
    clone_w = float(cfg.get("clone_weight", 1.0))
    teacher_graph = bool(cfg.get("teacher_graph", False))

    student = SimCLR(w, head_bn=bool(cfg.get("head_bn", False)))
    teacher = SimCLR(w)
    teacher.eval()
    if not teacher_graph:
        for p in teacher.parameters():
            p.requires_grad_(False)
    opt = torch.optim.Adam(student.parameters(), lr=float(cfg.get("lr", 1e-2)), weight_decay=1e-6)
    x1, x2 = make_views(b, 1)
    mask = ~torch.eye(2 * b, dtype=torch.bool)
    last = {}

    def step():
        student.train()
        f1, o1 = student(x1)
        _, o2 = student(x2)
        with torch.set_grad_enabled(teacher_graph):
            f3, _ = teacher(x1)
        out = torch.cat([o1, o2], dim=0)
        sim = torch.exp(out @ out.t() / tau).masked_select(mask).view(2 * b, -1)
        pos = torch.exp((o1 * o2).sum(dim=-1) / tau)
        pos = torch.cat([pos, pos], dim=0)
        con = (-torch.log(pos / sim.sum(dim=-1))).mean()
        clone = -(f3 * f1).sum(dim=-1).mean()
        with torch.no_grad():
            t_maps, _ = teacher.f.stage_outputs(x1)
        s_maps, _ = student.f.stage_outputs(x1)
        att = sum(bl * at_loss(s, t.detach()) for bl, s, t in zip(beta, s_maps, t_maps))
        loss = con + att + clone_w * clone
        opt.zero_grad()
        loss.backward()
        opt.step()
        last.update(total=loss.item(), contrastive=con.item(), attention=float(att), clone=clone.item())

    for _ in range(int(cfg.get("warmup", 1))):
        step()
    walls, cpus = [], []
    for _ in range(int(cfg.get("repeats", 5))):
        c0, t0 = time.process_time(), time.perf_counter()
        step()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    walls.sort()
    cpus.sort()
    print(json.dumps({"median": walls[len(walls) // 2], "min": walls[0], "max": walls[-1],
                      "cpu_median": cpus[len(cpus) // 2], "samples": len(walls), "losses": last,
                      "teacher_graph": teacher_graph, "torch": torch.__version__,
                      "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
