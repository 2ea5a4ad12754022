#!/usr/bin/env python3
"""Checks a checkpoint written by ctssl-backbones against torchvision's layout without torch: every key of
tests/fixtures/torchvision_<arch>_keys.txt present with the same shape and dtype (float32 weights, int64
0-dim num_batches_tracked) and nothing else. Needs: pip install safetensors numpy.

  cargo run --release -p ctssl-backbones --example summary -- \
      --arch resnet50 --in-channels 3 --classes 1000 --save /tmp/ours_r50.safetensors --steps 0
  python3 crates/ctssl-backbones/scripts/check_safetensors_layout.py /tmp/ours_r50.safetensors resnet50
"""
import os
import sys

from safetensors import safe_open
from safetensors.numpy import load_file


def main(path, arch):
    here = os.path.dirname(os.path.abspath(__file__))
    fixture = os.path.join(here, "..", "tests", "fixtures", f"torchvision_{arch}_keys.txt")
    rows = [line.split() for line in open(fixture) if line.strip() and not line.startswith("#")]
    state = load_file(path)
    with safe_open(path, "np") as f:
        metadata = f.metadata()
    dtypes = {"F32": "float32", "I64": "int64"}
    problems = []
    for name, dtype, shape in rows:
        expected = [int(s) for s in shape.strip("[]").split(",") if s]
        if name not in state:
            problems.append(f"missing {name}")
            continue
        a = state[name]
        if list(a.shape) != expected or str(a.dtype) != dtypes[dtype]:
            problems.append(f"{name}: {a.dtype}{list(a.shape)} vs {dtypes[dtype]}{expected}")
    extra = sorted(set(state) - {r[0] for r in rows})
    problems += [f"unexpected {k}" for k in extra]
    if problems:
        print("\n".join(problems))
        return 1
    print(f"{path}: {len(state)} tensors match torchvision {arch} (metadata {metadata})")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
