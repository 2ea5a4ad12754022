#!/usr/bin/env python3
"""PyTorch peer of `examples/bench_train_step.rs`: the same training step on torchvision's ResNet.

    python3 benches/peer/torch_train_step.py --arch resnet18 --size 64 --batch 32 --steps 10 --threads 2

One step: forward in training mode on random 1-channel images (torchvision's model with `conv1`
replaced by a 1-channel 7x7 stride-2 convolution), cross-entropy against fixed labels over 10 classes,
backward, one `torch.optim.AdamW` update (lr 1e-3, weight decay 0.01, PyTorch's default
implementation). `--eval` times the forward pass alone in evaluation mode under `torch.no_grad()`.
`torch.set_num_threads(--threads)` (default 2).

Prints a human line, a line `torch arch=... s_per_step=<median> s_min=<fastest> cpu_s_per_step=<user +
system CPU seconds of the timed steps / steps> minflt_per_step=... peak_rss_mib=<ru_maxrss>` and, last,
`images_per_second=<batch / median step time>`.
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
    p.add_argument("--eval", action="store_true")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = getattr(torchvision.models, args.arch)(num_classes=args.classes)
    model.conv1 = torch.nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    x = torch.randn(args.batch, 1, args.size, args.size)
    labels = torch.tensor([(i * 7 + 3) % args.classes for i in range(args.batch)])
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train(not args.eval)

    times = []
    cpu0 = None
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        t = time.perf_counter()
        if args.eval:
            with torch.no_grad():
                float(model(x).sum())
        else:
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), labels)
            loss.backward()
            opt.step()
            float(loss.detach())
        dt = time.perf_counter() - t
        if step >= args.warmup:
            times.append(dt)

    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    steps = max(args.steps, 1)
    cpu_per_step = (cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime) / steps
    flt_per_step = (cpu1.ru_minflt - cpu0.ru_minflt) / steps
    med = statistics.median(times)
    rss_mib = cpu1.ru_maxrss / 1024.0  # KiB on Linux
    mode = "eval" if args.eval else "train"
    print(
        f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads): {args.arch} {args.size}x{args.size} "
        f"batch {args.batch} ({mode}): {med * 1e3:.1f} ms/step median of {args.steps}, fastest {min(times) * 1e3:.1f} ms"
    )
    print(
        f"torch arch={args.arch} size={args.size} batch={args.batch} mode={mode} steps={args.steps} "
        f"s_per_step={med:.6f} s_min={min(times):.6f} cpu_s_per_step={cpu_per_step:.4f} "
        f"minflt_per_step={flt_per_step:.0f} peak_rss_mib={rss_mib:.1f}"
    )
    print(f"images_per_second={args.batch / med:.2f}")


if __name__ == "__main__":
    main()
