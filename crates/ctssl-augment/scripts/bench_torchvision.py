#!/usr/bin/env python3
"""Views per second of ctssl-augment's recipes rebuilt from torchvision transforms (v2, tensors).

Same input as `benches/views.rs`: one 512 x 512 float32 HU slice (air, body, lungs, vertebra, texture);
one thread (`torch.set_num_threads(1)`), so the figure is a rate per core, comparable with the
`views_1_thread` group of the criterion bench. Run on the same machine, right after the bench:

    python3 crates/ctssl-augment/scripts/bench_torchvision.py --sizes 64 128 224 --seconds 2

Requires torch and torchvision (>= 0.16 for transforms.v2). Prints a markdown table.

The steps mirror `src/recipe.rs`: random resized crop (bilinear, antialias), flips, rotation with air fill,
HU noise, window (fixed wide window or per-slice min-max) with window jitter, brightness / contrast
(`ColorJitter` on one channel), Gaussian blur (sigma scaled by size / 224, kernel 2 * ceil(3 sigma) + 1,
reflect padding). Random grayscale and solarisation are dropped there and here.
"""

import argparse
import math
import random
import time

import torch
from torchvision.transforms import v2 as T

AIR = -1000.0
WIDE = (-1000.0, 1000.0)  # lower, upper HU of the wide window


def phantom(n=512, seed=1):
    g = torch.Generator().manual_seed(seed)
    c = n / 2.0
    y, x = torch.meshgrid(torch.arange(n) - c, torch.arange(n) - c, indexing="ij")
    body = (y / (0.42 * n)) ** 2 + (x / (0.46 * n)) ** 2 < 1.0

    def lung(o):
        return ((x - o * n) / (0.15 * n)) ** 2 + (y / (0.28 * n)) ** 2 < 1.0

    bone = torch.sqrt(x**2 + (y - 0.3 * n) ** 2) < 0.05 * n
    img = torch.full((n, n), AIR)
    img[body] = 40.0
    img[body & (lung(-0.2) | lung(0.2))] = -850.0
    img[body & bone] = 700.0
    img += body * (30.0 * torch.rand((n, n), generator=g) - 15.0)
    return img.unsqueeze(0).float()  # [1, H, W]


class HuNoise(torch.nn.Module):
    def __init__(self, sigma, p):
        super().__init__()
        self.sigma, self.p = sigma, p

    def forward(self, x):
        if random.random() < self.p:
            s = random.uniform(*self.sigma)
            x = x + s * torch.randn_like(x)
        return x


class View:
    """One view: geometric steps on HU, then noise, window (+ jitter), brightness / contrast, blur."""

    def __init__(self, size, scale, hflip=0.5, vflip=0.0, rotation=None, noise=None, min_max=False,
                 jitter=None, blur_p=0.0):
        geo = [T.RandomResizedCrop(size, scale=scale, ratio=(3 / 4, 4 / 3), antialias=True)]
        if hflip > 0:
            geo.append(T.RandomHorizontalFlip(hflip))
        if vflip > 0:
            geo.append(T.RandomVerticalFlip(vflip))
        if rotation is not None:
            deg, p = rotation
            geo.append(T.RandomApply([T.RandomRotation(deg, interpolation=T.InterpolationMode.BILINEAR, fill=AIR)], p=p))
        self.geo = T.Compose(geo)
        self.noise = HuNoise(*noise) if noise else None
        self.min_max = min_max
        self.jitter = jitter  # (p, centre fraction, width fraction, brightness, contrast)
        self.color = T.ColorJitter(brightness=jitter[3], contrast=jitter[4]) if jitter else None
        self.blur = None
        if blur_p > 0:
            s = size / 224.0
            sig = (0.1 * s, 2.0 * s)
            k = 2 * math.ceil(3 * sig[1]) + 1
            self.blur = T.RandomApply([T.GaussianBlur(k, sigma=sig)], p=blur_p)

    def __call__(self, hu, slice_range):
        x = self.geo(hu)
        if self.noise is not None:
            x = self.noise(x)
        lo, hi = slice_range if self.min_max else WIDE
        apply_jitter = self.jitter is not None and random.random() < self.jitter[0]
        if apply_jitter:
            _, cf, wf, _, _ = self.jitter
            width = hi - lo
            centre = (lo + hi) / 2 + random.uniform(-cf, cf) * width
            width *= random.uniform(max(0.05, 1 - wf), 1 + wf)
            lo, hi = centre - width / 2, centre + width / 2
        x = ((x - lo) / max(hi - lo, 1e-6)).clamp_(0.0, 1.0)
        if apply_jitter:
            x = self.color(x)
        if self.blur is not None:
            x = self.blur(x)
        return x


def local(size):
    return max(1, round(size * 96 / 224))


def recipes(size):
    strong = (0.8, 0.2, 0.8, 0.8, 0.8)  # p, hue->centre, saturation->width, brightness, contrast
    moco = (0.8, 0.1, 0.4, 0.4, 0.4)
    byol = (0.8, 0.1, 0.2, 0.4, 0.4)
    study = dict(hflip=0.5, vflip=0.5, rotation=(180, 0.5), noise=((0.0, 20.0), 0.5), min_max=True,
                 jitter=(0.8, 0.0, 0.0, 0.4, 0.4), blur_p=0.5)
    return {
        "simclr": [View(size, (0.08, 1), jitter=strong, blur_p=0.5)] * 2,
        "moco_v2": [View(size, (0.2, 1), jitter=moco, blur_p=0.5)] * 2,
        "byol": [View(size, (0.08, 1), jitter=byol, blur_p=1.0), View(size, (0.08, 1), jitter=byol, blur_p=0.1)],
        "swav": [View(size, (0.14, 1), jitter=strong, blur_p=0.5)] * 2
        + [View(local(size), (0.05, 0.14), jitter=strong, blur_p=0.5)] * 6,
        "dino": [View(size, (0.4, 1), jitter=byol, blur_p=1.0), View(size, (0.4, 1), jitter=byol, blur_p=0.1)]
        + [View(local(size), (0.05, 0.4), jitter=byol, blur_p=0.5)] * 8,
        "spark": [View(size, (0.67, 1))],
        "study": [View(size, (0.2, 1), **study)] * 2,
        "study_multi_crop": [View(size, (0.9, 1), **study)] * 2 + [View(local(size), (0.05, 0.14), **study)] * 6,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 224])
    ap.add_argument("--seconds", type=float, default=2.0, help="measuring time per recipe and size")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    random.seed(0)
    torch.manual_seed(0)
    hu = phantom()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    print("| recipe | size | views/s (torchvision) |")
    print("|---|---|---|")
    for size in args.sizes:
        for name, views in recipes(size).items():
            need_range = any(v.min_max for v in views)

            def slice_range():
                # per-slice min-max, computed per sample only when a view uses it (as the Rust pipeline does)
                return (hu.min().item(), hu.max().item()) if need_range else WIDE

            for _ in range(3):  # warm-up
                [v(hu, slice_range()) for v in views]
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < args.seconds:
                rng = slice_range()
                out = [v(hu, rng) for v in views]
                n += len(out)
            rate = n / (time.perf_counter() - t0)
            print(f"| {name} | {size} | {rate:.0f} |", flush=True)


if __name__ == "__main__":
    main()
