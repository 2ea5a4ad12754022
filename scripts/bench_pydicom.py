#!/usr/bin/env python3
"""The pydicom side of `cargo run --release --example bench_io`.

Reads the same files as the Rust side, on one core, and prints one JSON object:
  decode: dcmread + apply_modality_lut on every file of DECODE_DIR (HU as float, like ctssl)
  header: dcmread(stop_before_pixels=True) on every file of HEADER_DIR
with seconds, files and peak resident memory (MiB).

Usage: bench_pydicom.py DECODE_DIR HEADER_DIR [--repeat N]
Needs: pip install pydicom numpy
"""
import json
import os
import resource
import sys
import time


def files_in(folder):
    out = []
    for root, _, names in os.walk(folder):
        out.extend(os.path.join(root, n) for n in names if n.endswith(".dcm"))
    return sorted(out)


def main():
    try:
        import numpy as np
        import pydicom
        from pydicom.pixels import apply_modality_lut
    except ImportError as e:
        print(json.dumps({"error": f"{e}; install with: pip install pydicom numpy"}))
        return 1
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 1
    decode_files = files_in(args[0])
    header_files = files_in(args[1])

    # warm the page cache and the imports
    for f in decode_files[:5]:
        ds = pydicom.dcmread(f)
        apply_modality_lut(ds.pixel_array, ds)

    best_decode = float("inf")
    checksum = 0.0
    for _ in range(repeat):
        t = time.perf_counter()
        for f in decode_files:
            ds = pydicom.dcmread(f)
            hu = apply_modality_lut(ds.pixel_array, ds).astype(np.float32)
            checksum += float(hu[0, 0])
        best_decode = min(best_decode, time.perf_counter() - t)

    t = time.perf_counter()
    for f in header_files:
        pydicom.dcmread(f, stop_before_pixels=True)
    header = time.perf_counter() - t

    print(json.dumps({
        "pydicom": pydicom.__version__,
        "numpy": np.__version__,
        "decode_files": len(decode_files),
        "decode_seconds": best_decode,
        "header_files": len(header_files),
        "header_seconds": header,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "checksum": checksum,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
