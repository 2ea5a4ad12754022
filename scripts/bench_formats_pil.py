"""Decode PNG/JPEG slices to float32 grey with PIL + NumPy, as a Python pipeline would; the peer of
examples/bench_formats.rs. Prints `seconds peak_kib` on one line.

    python3 scripts/bench_formats_pil.py LISTFILE [PROCESSES]

LISTFILE holds one image path per line. PROCESSES > 1 decodes with a multiprocessing pool (the way a
PyTorch DataLoader with workers would), and the peak memory is the parent's plus the largest child's.
"""
import resource
import sys
import time

import numpy as np
from PIL import Image


def decode(path):
    with Image.open(path) as im:
        # convert("L"): ITU-R BT.601 luma for RGB(A) and palette, alpha dropped; 16-bit grey kept as I.
        if im.mode in ("I;16", "I;16B", "I"):
            return np.asarray(im, dtype=np.float32)
        return np.asarray(im.convert("L"), dtype=np.float32)


def main():
    paths = [line.rstrip("\n") for line in open(sys.argv[1]) if line.strip()]
    procs = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    t0 = time.perf_counter()
    if procs > 1:
        from multiprocessing import Pool

        with Pool(procs) as pool:
            out = pool.map(decode, paths, chunksize=8)
    else:
        out = [decode(p) for p in paths]
    secs = time.perf_counter() - t0
    assert len(out) == len(paths)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if procs > 1:
        peak += resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"{secs:.4f} {peak}")


if __name__ == "__main__":
    main()
