"""Training throughput: the memory-mapped cache pipeline against the compute limit and
against the per-sample PIL pipeline of public notebooks.

Prints, in one run, training images/s (model step included) of

``compute``
    the model, optimizer and precision of ``galmorph train`` stepping on one fixed
    in-memory float batch: the limit no input pipeline can beat;
``cache``
    the input path of ``galmorph train``: batch positions from
    :class:`~galmorph.training.batches.BatchStream`, one indexed read of the uint8
    memory map per batch (prefetched by :class:`~galmorph.training.batches.BatchLoader`),
    float conversion and whole-batch rotation/flip augmentation, then the same step;
``per-sample PIL``
    a ``torch.utils.data.DataLoader`` over a ``Dataset`` that opens each JPEG, crops,
    resizes, randomly rotates and flips it with PIL and converts it to a tensor, as
    public Galaxy Zoo notebooks do;

plus each input pipeline alone (no model: the ceiling it puts on a faster model or a
GPU) and the ratios cache/compute (target
>= 0.9) and cache/PIL (target >= 2). The three are timed in interleaved rounds and
the medians reported, so that a change in machine load hits all of them alike;
``--with-train`` also times a real two-epoch ``galmorph train`` run.

Examples
--------
::

    python benchmarks/train_throughput.py                       # resnet18 on gz-kaggle-5k
    python benchmarks/train_throughput.py --model cnn --rounds 5
    python benchmarks/train_throughput.py --data synthetic       # no real data needed

Figures depend on the machine and on its load: run it on an idle machine.
"""
import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from galmorph.data.cache import prepare
from galmorph.models import MODEL_NAMES, build_model, model_entry
from galmorph.runtime import (autocast, channels_last_helps, maybe_channels_last, resolve_device,
                              resolve_precision)
from galmorph.training.config import TrainConfig, read_metrics
from galmorph.training import train

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gz-kaggle-5k"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", choices=MODEL_NAMES, default="resnet18", help="network")
    p.add_argument("--data", default=str(DEFAULT_DATA),
                   help="Kaggle-layout data folder, or 'synthetic' for a generated set "
                        "(used automatically when the default folder is absent)")
    p.add_argument("--synthetic-n", type=int, default=512, help="size of the synthetic set")
    p.add_argument("--batch-size", type=int, default=None, help="batch size (model default)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds")
    p.add_argument("--batches", type=int, default=4, help="timed batches per pipeline and round")
    p.add_argument("--warmup", type=int, default=2, help="untimed batches per pipeline first")
    p.add_argument("--precision", default="auto", help="auto, bf16 or fp32")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--pil-workers", type=int, default=2,
                   help="DataLoader worker processes of the per-sample pipeline")
    p.add_argument("--no-augment", action="store_true", help="time without augmentation")
    p.add_argument("--with-train", action="store_true",
                   help="also time a real two-epoch galmorph train run")
    p.add_argument("--json", action="store_true", help="also print the figures as JSON")
    return p.parse_args(argv)


class PILGalaxies(torch.utils.data.Dataset):
    """The per-sample pipeline of public notebooks: one JPEG at a time, through PIL."""

    def __init__(self, paths, labels, crop=224, size=80):
        self.paths, self.labels, self.crop, self.size = paths, labels, crop, size

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        rng = np.random.default_rng()  # fresh entropy per sample, as in the notebooks
        img = Image.open(self.paths[i]).convert("RGB")
        w, h = img.size
        left, top = (w - self.crop) // 2, (h - self.crop) // 2
        img = img.crop((left, top, left + self.crop, top + self.crop))
        img = img.resize((self.size, self.size), Image.BILINEAR)
        img = img.rotate(float(rng.uniform(0, 360)), resample=Image.BILINEAR)
        if rng.random() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        if rng.random() < 0.5:
            img = img.transpose(Image.FLIP_TOP_BOTTOM)
        x = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1)
        return x.float().div_(255.0), torch.from_numpy(self.labels[i])      # (3, H, W), (37,)


def _stepper(name, device, precision, lr=1e-3):
    torch.manual_seed(0)
    model = build_model(name).to(device).train()
    model, _ = maybe_channels_last(model, None, device, precision)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    cl = channels_last_helps(device, precision)

    def step(x, y):
        if cl:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(device, precision):
            pred = model(x)
        loss = (pred.float() - y).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    return step


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def compute_batches(data, device, batch):
    """The same float batch, forever (already on the device)."""
    x = torch.from_numpy(np.array(data.images[:batch])).to(device).float() / 255   # (B, 3, H, W)
    y = torch.from_numpy(np.array(data.labels[:batch])).to(device)                 # (B, 37)
    while True:
        yield x, y


def cache_batches(data, device, batch, augment):
    """The input path of galmorph train: memory map -> batch read -> float -> augment."""
    from galmorph.augment import augment_batch
    from galmorph.training.batches import BatchLoader, BatchStream

    stream, loader = BatchStream(len(data), batch, seed=0), BatchLoader(data.images, data.labels)
    g = torch.Generator().manual_seed(0)
    try:
        for _, xb, yb in loader.iterate(stream.positions, range(10 ** 9)):
            x = xb.to(device).float().div_(255.0)
            yield (augment_batch(x, g) if augment else x), yb.to(device)
    finally:
        loader.close()


def pil_batches(catalog, device, batch, workers):
    ds = PILGalaxies(catalog.paths, np.asarray(catalog.labels, dtype=np.float32))
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, drop_last=True,
                                         num_workers=workers, persistent_workers=workers > 0)
    while True:  # endless: small data sets are walked through several times
        for x, y in loader:
            yield x.to(device), y.to(device)


def _timed(step, batches, n, batch, device):
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(n):
        x, y = next(batches)
        if step is not None:
            step(x, y)
    _sync(device)
    return n * batch / (time.perf_counter() - t0)


def time_train(args, data_dir, cache, batch, workdir):
    run = train(TrainConfig(data=data_dir, out=Path(workdir) / "run", cache=cache,
                            model=args.model, epochs=2, batches_per_epoch=args.batches,
                            batch_size=batch, precision=args.precision, device=args.device,
                            val_fraction=0.02, augment=not args.no_augment, progress=False))
    return read_metrics(run)[-1]["images_per_s"]


def _data(args, tmp):
    data_dir = Path(args.data)
    if args.data == "synthetic" or not data_dir.is_dir():
        from galmorph.synth import make_synthetic
        print(f"data: synthetic set of {args.synthetic_n} galaxies"
              + ("" if args.data == "synthetic" else f" ({args.data} not found)"))
        data_dir = make_synthetic(Path(tmp) / "synth", n=args.synthetic_n, seed=0,
                                  progress=False)
    cache = Path(tmp) / "cache" if str(data_dir).startswith(tmp) else None
    return data_dir, cache


def main(argv=None):
    args = parse_args(argv)
    device = resolve_device(args.device)
    precision = resolve_precision(device, args.precision)
    batch = args.batch_size or model_entry(args.model).batch_size
    with tempfile.TemporaryDirectory(prefix="galmorph-bench-") as tmp:
        data_dir, cache = _data(args, tmp)
        data = prepare(data_dir, cache_dir=cache, progress=True)
        from galmorph.data.catalogs import open_catalog
        catalog = open_catalog(data_dir)
        print(f"model {args.model}, batch {batch}, device {device}, precision {precision}, "
              f"{args.rounds} rounds x {args.batches} timed batches per pipeline, torch threads "
              f"{torch.get_num_threads()}, data {data_dir} ({len(data)} galaxies)")
        pipes = {"compute": compute_batches(data, device, batch),
                 "cache": cache_batches(data, device, batch, not args.no_augment),
                 "pil": pil_batches(catalog, device, batch, args.pil_workers)}
        steps = {name: _stepper(args.model, device, precision) for name in pipes}
        for name in pipes:  # warm-up: first batches, worker start-up, oneDNN kernels
            _timed(steps[name], pipes[name], args.warmup, batch, device)
        rounds = {name: [] for name in pipes}
        for _ in range(args.rounds):
            for name in pipes:
                rounds[name].append(_timed(steps[name], pipes[name], args.batches, batch, device))
        fig = {name: float(np.median(v)) for name, v in rounds.items()}
        fig["input_only"] = _timed(None, pipes["cache"], 4 * args.batches, batch, device)
        fig["pil_input_only"] = _timed(None, pipes["pil"], 2 * args.batches, batch, device)
        fig["cache_over_compute"] = float(np.median(np.divide(rounds["cache"], rounds["compute"])))
        fig["cache_over_pil"] = float(np.median(np.divide(rounds["cache"], rounds["pil"])))
        for gen in pipes.values():
            gen.close()
        print(f"  compute limit (fixed in-memory batch):   {fig['compute']:9.1f} images/s")
        print(f"  cache pipeline (galmorph train's path):  {fig['cache']:9.1f} images/s")
        print(f"  per-sample PIL DataLoader ({args.pil_workers} workers):  {fig['pil']:9.1f} images/s")
        print(f"  cache input pipeline alone (no model):   {fig['input_only']:9.1f} images/s")
        print(f"  PIL input pipeline alone (no model):     {fig['pil_input_only']:9.1f} images/s")
        if args.with_train:
            fig["train"] = time_train(args, data_dir, cache, batch, tmp)
            print(f"  galmorph train, 2nd epoch:               {fig['train']:9.1f} images/s")
    print(f"  cache / compute = {fig['cache_over_compute']:.2f} (target >= 0.90); "
          f"cache / PIL = {fig['cache_over_pil']:.2f} (target >= 2); medians of per-round ratios")
    print("  (figures depend on machine load; compare runs on an idle machine)")
    if args.json:
        print(json.dumps({**fig, "model": args.model, "batch": batch, "device": str(device),
                          "precision": precision}))
    return fig


if __name__ == "__main__":
    main()
