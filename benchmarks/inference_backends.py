"""How fast can ResNet-18 infer at 80 px on this CPU? Ways of running the same weights.

Prediction's goal is 1,000 images/s end to end on 2 cores; inference alone is
the ceiling of that. This script times one forward pass over a fixed batch
for each way of running the same model and prints images/s, their ratio to
the eager autocast path that ``predict_arrays`` uses, the largest output
difference from it, and any one-off cost (tracing, compiling):

- ``eager autocast``: what galmorph runs (bf16 autocast, channels_last);
- ``bf16 weights``: the model cast to bfloat16, no autocast;
- ``fx fused BN``: batch norm folded into the convolutions, bf16 weights;
- ``jit freeze``: TorchScript trace + freeze (oneDNN fusions) of the fused model;
- ``torch.compile``: inductor with freezing (needs a C++ compiler; skipped
  with ``--no-compile``).

Run::

    python benchmarks/inference_backends.py [--model resnet18] [--size 80]
        [--batch-size 256] [--threads 2] [--reps 4] [--no-compile]

Figures depend on the load of the machine; run it on an idle one. All rows
come from one run, so compare their ratios.
"""
import argparse
import copy
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet18", help="galmorph model name (default: resnet18)")
    p.add_argument("--size", type=int, default=80, help="input size in px (default: 80)")
    p.add_argument("--batch-size", type=int, default=256, help="batch size (default: 256)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")
    p.add_argument("--reps", type=int, default=4, help="timed batches per row (default: 4)")
    p.add_argument("--no-compile", dest="compile", action="store_false",
                   help="skip the torch.compile row")
    return p.parse_args(argv)


def time_forward(fn, x, reps):
    """Images/s of ``fn(x)`` after two warm-up calls, and its float output."""
    import torch

    with torch.inference_mode():
        fn(x)
        fn(x)
        start = time.perf_counter()
        for _ in range(reps):
            y = fn(x)
        seconds = time.perf_counter() - start
    return reps * len(x) / seconds, y.float()


def backends(model, x, use_compile):
    """(name, setup seconds, forward function) for each way of running ``model``."""
    import torch
    from torch.fx.experimental.optimization import fuse

    bf16 = torch.bfloat16

    def eager(inp):
        with torch.autocast("cpu", dtype=bf16):
            return model(inp)
    yield "eager autocast (galmorph)", 0.0, eager

    cast = copy.deepcopy(model).to(bf16)
    yield "bf16 weights", 0.0, lambda inp: cast(inp.to(bf16))

    fused = fuse(copy.deepcopy(model)).to(bf16)
    yield "fx fused BN, bf16 weights", 0.0, lambda inp: fused(inp.to(bf16))

    start = time.perf_counter()
    with torch.inference_mode():
        frozen = torch.jit.freeze(torch.jit.trace(fused, x.to(bf16)))
    yield "jit trace + freeze", time.perf_counter() - start, lambda inp: frozen(inp.to(bf16))

    if use_compile:
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True
        compiled = torch.compile(fused)
        start = time.perf_counter()
        with torch.inference_mode():
            compiled(x.to(bf16))
        yield "torch.compile (freezing)", time.perf_counter() - start, \
            lambda inp: compiled(inp.to(bf16))


def main(argv=None):
    args = parse_args(argv)
    import torch

    from galmorph.models import build_model

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model(args.model).eval().to(memory_format=torch.channels_last)
    x = torch.rand(args.batch_size, 3, args.size, args.size).contiguous(
        memory_format=torch.channels_last)
    print(f"{args.model} at {args.size} px, batch {args.batch_size}, {args.threads} threads, "
          f"torch {torch.__version__}")
    print(f"{'backend':30s}{'images/s':>10s}{'ratio':>8s}{'max |dy|':>10s}{'setup s':>9s}")
    reference = base = None
    for name, setup, fn in backends(model, x, args.compile):
        rate, y = time_forward(fn, x, args.reps)
        if reference is None:
            reference, base = y, rate
        diff = float((y - reference).abs().max())
        print(f"{name:30s}{rate:10.0f}{rate / base:8.2f}{diff:10.4f}{setup:9.1f}", flush=True)


if __name__ == "__main__":
    main()
