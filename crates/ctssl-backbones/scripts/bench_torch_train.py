#!/usr/bin/env python3
"""PyTorch peer of `examples/bench_train.rs`: times training steps of a torchvision ResNet.

One step: forward (train mode) on random 1-channel images, cross-entropy against random labels
(10 classes), backward, SGD update (lr 0.01, momentum 0). Same shapes, seeds not shared (random data).

    python3 crates/ctssl-backbones/scripts/bench_torch_train.py --arch resnet18 --size 64 --batch 32 --steps 10

Prints a human line and a last machine-readable line:
    torch arch=resnet18 size=64 batch=32 steps=10 s_per_step=<median> s_min=<fastest> cpu_s_per_step=<user+sys CPU time of the
    timed steps / steps> peak_rss_mib=<ru_maxrss>
"""

import argparse
import resource
import statistics
import time

import torch
import torchvision


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--arch", default="resnet18", choices=["resnet18", "resnet34", "resnet50"])
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--classes", type=int, default=10)
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = getattr(torchvision.models, args.arch)(num_classes=args.classes)
    model.conv1 = torch.nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(args.batch, 1, args.size, args.size)
    labels = torch.randint(0, args.classes, (args.batch,))
    loss_fn = torch.nn.CrossEntropyLoss()

    times = []
    cpu0 = None
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), labels)
        loss.backward()
        opt.step()
        float(loss.detach())
        dt = time.perf_counter() - t
        if step >= args.warmup:
            times.append(dt)

    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu_per_step = (cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime) / args.steps
    med = statistics.median(times)
    # ru_maxrss is in KiB on Linux.
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(
        f"torch {torch.__version__} threads={torch.get_num_threads()}: {args.arch} {args.size}x{args.size} "
        f"batch {args.batch}: {med * 1e3:.1f} ms/step (median of {args.steps}), fastest {min(times) * 1e3:.1f} ms"
    )
    print(
        f"torch arch={args.arch} size={args.size} batch={args.batch} steps={args.steps} "
        f"s_per_step={med:.6f} s_min={min(times):.6f} cpu_s_per_step={cpu_per_step:.6f} peak_rss_mib={rss_mib:.1f}"
    )


if __name__ == "__main__":
    main()
