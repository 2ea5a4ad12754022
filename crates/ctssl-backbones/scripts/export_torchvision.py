#!/usr/bin/env python3
"""Moves ResNet weights between torchvision and ctssl-backbones as safetensors.

  export  --arch resnet50 --out resnet50_torchvision.safetensors [--pretrained]
      Saves torchvision's state_dict (3-channel conv1, 1000 classes, num_batches_tracked as int64) with
      safetensors.torch.save_file. `--pretrained` asks for torchvision's ImageNet weights, which must already
      be in torch's cache (nothing is downloaded when the machine is offline); without it the weights are
      torchvision's random initialisation, which is enough to check names, shapes and dtypes.
  check   --arch resnet50 --file ours.safetensors [--in-channels 1] [--num-classes 1000]
      Loads a checkpoint written by ctssl-backbones into the torchvision model with strict=True (conv1 built
      with --in-channels input channels, fc with --num-classes outputs, or removed with --num-classes 0) and
      prints the number of keys matched.

The Rust test `torchvision_export_loads_with_every_key_matched` (ignored by default) reads the exported file
from $CTSSL_TORCHVISION_RESNET50 or crates/ctssl-backbones/tests/fixtures/resnet50_torchvision.safetensors.

Needs: torch, torchvision, safetensors (pip install torch torchvision safetensors).
"""
import argparse
import sys


def build(arch, in_channels, num_classes, pretrained):
    import torch
    import torchvision

    weights = "DEFAULT" if pretrained else None
    model = getattr(torchvision.models, arch)(weights=weights)
    if in_channels != 3:
        old = model.conv1
        model.conv1 = torch.nn.Conv2d(in_channels, old.out_channels, old.kernel_size, old.stride, old.padding,
                                      bias=False)
    if num_classes == 0:
        model.fc = torch.nn.Identity()
    elif num_classes != 1000:
        model.fc = torch.nn.Linear(model.fc.in_features, num_classes)
    return model


def export(args):
    from safetensors.torch import save_file

    model = build(args.arch, 3, 1000, args.pretrained)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, args.out, metadata={"format": "pt"})
    n_params = sum(p.numel() for p in model.parameters())
    print(f"wrote {args.out}: {len(state)} tensors, {n_params} parameters")


def check(args):
    from safetensors.torch import load_file

    model = build(args.arch, args.in_channels, args.num_classes, False)
    state = load_file(args.file)
    result = model.load_state_dict(state, strict=True)
    print(f"loaded {len(state)} tensors into torchvision {args.arch}: {result}")
    # A forward pass in eval mode proves the running statistics are usable.
    import torch

    model.eval()
    with torch.no_grad():
        out = model(torch.zeros(1, args.in_channels, 64, 64))
    print("output shape", tuple(out.shape))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("--arch", default="resnet50", choices=["resnet18", "resnet34", "resnet50"])
    e.add_argument("--out", default="resnet50_torchvision.safetensors")
    e.add_argument("--pretrained", action="store_true")
    c = sub.add_parser("check")
    c.add_argument("--arch", default="resnet50", choices=["resnet18", "resnet34", "resnet50"])
    c.add_argument("--file", required=True)
    c.add_argument("--in-channels", type=int, default=1)
    c.add_argument("--num-classes", type=int, default=1000)
    args = p.parse_args()
    export(args) if args.cmd == "export" else check(args)


if __name__ == "__main__":
    sys.exit(main())
