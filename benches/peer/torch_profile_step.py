#!/usr/bin/env python3
"""Time per kind of op of PyTorch's training step (the step of `torch_train_step.py`), for comparing with
`bench_train_step --profile`.

    python3 benches/peer/torch_profile_step.py --arch resnet18 --size 64 --batch 32 --threads 2

Runs 3 warm-up steps, then profiles 5 (`torch.profiler`, CPU) and prints the ops by self CPU time; divide
by 5 for per-step figures. The profiler's own overhead is included.
"""

import argparse

import torch
import torchvision
from torch.profiler import ProfilerActivity, profile


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--arch", default="resnet18", choices=["resnet18", "resnet34", "resnet50"])
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = getattr(torchvision.models, args.arch)(num_classes=10)
    model.conv1 = torch.nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    x = torch.randn(args.batch, 1, args.size, args.size)
    labels = torch.tensor([(i * 7 + 3) % 10 for i in range(args.batch)])
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), labels).backward()
        opt.step()

    for _ in range(3):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            step()
    print(f"{args.steps} steps profiled")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))


if __name__ == "__main__":
    main()
