#!/usr/bin/env python3
"""PyTorch peer of `crates/ctssl-kernels/examples/conv_layers.rs`: each convolution of a ResNet-18 step
(forward, input gradient, weight gradient, both gradients together) timed alone, one line per layer.

    python3 benches/peer/torch_conv_layers.py --size 64 --batch 32 --threads 2
"""

import argparse
import time

import torch


def median_ms(f, reps):
    for _ in range(2):
        f()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2] * 1e3


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--reps", type=int, default=15)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    s = a.size // 4
    layers = [
        ("stem 7x7 s2", 1, 64, a.size, 7, 2, 3),
        ("layer1 3x3", 64, 64, s, 3, 1, 1),
        ("layer2.0 3x3 s2", 64, 128, s, 3, 2, 1),
        ("layer2 3x3", 128, 128, s // 2, 3, 1, 1),
        ("layer3.0 3x3 s2", 128, 256, s // 2, 3, 2, 1),
        ("layer3 3x3", 256, 256, s // 4, 3, 1, 1),
        ("layer4.0 3x3 s2", 256, 512, s // 4, 3, 2, 1),
        ("layer4 3x3", 512, 512, s // 8, 3, 1, 1),
        ("downsample2 1x1 s2", 64, 128, s, 1, 2, 0),
        ("downsample4 1x1 s2", 256, 512, s // 4, 1, 2, 0),
    ]
    print(f"{'layer':<20} {'fwd':>8} {'dx':>8} {'dw':>8} {'dx+dw':>8}  (ms, median of {a.reps}, PyTorch {torch.__version__})")
    for name, ci, co, hw, k, st, pad in layers:
        x = torch.randn(a.batch, ci, hw, hw)
        w = torch.randn(co, ci, k, k) * 0.1
        y = torch.nn.functional.conv2d(x, w, stride=st, padding=pad)
        dy = torch.randn_like(y)

        def bwd(mask):
            return lambda: torch.ops.aten.convolution_backward(
                dy, x, w, None, [st, st], [pad, pad], [1, 1], False, [0, 0], 1, mask
            )

        f = median_ms(lambda: torch.nn.functional.conv2d(x, w, stride=st, padding=pad), a.reps)
        dx = median_ms(bwd([True, False, False]), a.reps)
        dw = median_ms(bwd([False, True, False]), a.reps)
        both = median_ms(bwd([True, True, False]), a.reps)
        print(f"{name:<20} {f:>8.2f} {dx:>8.2f} {dw:>8.2f} {both:>8.2f}")


if __name__ == "__main__":
    main()
