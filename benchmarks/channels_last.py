"""Does channels_last speed up galmorph's networks on this machine?

Times inference (and optionally a training step) of a model at 80x80 in
fp32 and bf16 autocast, with the default (NCHW) and channels_last (NHWC)
memory layouts, and prints images per wall second and per CPU second (the
latter is the fairer figure on a machine shared with other jobs; use
``--threads 1`` there). The rule in
galmorph.runtime.channels_last_helps was set from these figures.

    python benchmarks/channels_last.py --model resnet18 --batch 64 --train
"""
import argparse
import time

import torch

from galmorph.models import MODEL_NAMES, build_model
from galmorph.runtime import autocast, cpu_supports_bf16, resolve_device


def _time(step, repeats):
    """(wall seconds, CPU seconds) per step; CPU time is robust to other jobs' load."""
    for _ in range(2):
        step()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - wall) / repeats, (time.process_time() - cpu) / repeats


def run(name, batch, size, precision, layout, train, repeats, device):
    model = build_model(name).to(device)
    x = torch.rand(batch, 3, size, size, device=device)
    if layout == "channels_last":
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    if train:
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=1e-3)

        def step():
            with autocast(device, precision):
                loss = model(x).square().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    else:
        model.eval()

        def step():
            with torch.inference_mode(), autocast(device, precision):
                model(x)
    wall, cpu = _time(step, repeats)
    return batch / wall, batch / cpu


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18", choices=MODEL_NAMES,
                        help="network (default resnet18)")
    parser.add_argument("--batch", type=int, default=64, help="batch size (default 64)")
    parser.add_argument("--size", type=int, default=80, help="image side, pixels (default 80)")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps (default 5)")
    parser.add_argument("--train", action="store_true", help="time training steps, not inference")
    parser.add_argument("--device", default="auto", help="device (default auto)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    precisions = ["fp32"] + (["bf16"] if device.type != "cpu" or cpu_supports_bf16() else [])
    what = "train step" if args.train else "inference"
    print(f"{args.model} {what}, batch {args.batch}, {args.size}x{args.size}, {device}, "
          f"{torch.get_num_threads()} threads")
    for precision in precisions:
        for layout in ("contiguous", "channels_last"):
            wall, cpu = run(args.model, args.batch, args.size, precision, layout, args.train,
                            args.repeats, device)
            print(f"  {precision:5s} {layout:14s} {wall:8.1f} images/s  "
                  f"{cpu:8.1f} images per CPU second")


if __name__ == "__main__":
    main()
