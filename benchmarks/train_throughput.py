"""Training throughput: the memory-mapped cache pipeline against the compute limit and
against the per-sample PIL pipeline of public notebooks.

Prints, in one run, training images/s of

1. ``cache``    -- :func:`galmorph.training.train.train` itself (uint8 memory map ->
   one batch read -> float on the device -> whole-batch rotation/flip augmentation ->
   step), as the ``images_per_s`` of its second epoch (the first warms up);
2. ``compute``  -- the same model, optimizer and precision stepping on one fixed
   in-memory float batch: the limit no input pipeline can beat;
3. ``per-sample PIL`` -- a ``torch.utils.data.DataLoader`` over a ``Dataset`` that
   opens each JPEG, crops, resizes and randomly rotates/flips it with PIL and
   converts it to a tensor, as public Galaxy Zoo notebooks do;

and the ratios cache/compute (target >= 0.9) and cache/PIL (target >= 2).

Examples
--------
::

    python benchmarks/train_throughput.py                       # resnet18 on gz-kaggle-5k
    python benchmarks/train_throughput.py --model cnn --batches 40
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
from galmorph.models import MODEL_NAMES, build_model, model_config
from galmorph.runtime import autocast, channels_last_helps, maybe_channels_last, resolve_device, resolve_precision
from galmorph.training.config import TrainConfig, read_metrics
from galmorph.training.train import train

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
    p.add_argument("--batches", type=int, default=30, help="timed batches per pipeline")
    p.add_argument("--warmup", type=int, default=3, help="untimed batches first")
    p.add_argument("--precision", default="auto", help="auto, bf16 or fp32")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--pil-workers", type=int, default=2,
                   help="DataLoader worker processes of the per-sample pipeline")
    p.add_argument("--no-augment", action="store_true",
                   help="time the cache pipeline without augmentation")
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


def time_compute(args, data, device, precision, batch):
    step = _stepper(args.model, device, precision)
    x = torch.from_numpy(np.array(data.images[:batch])).to(device).float() / 255
    y = torch.from_numpy(np.array(data.labels[:batch])).to(device)
    for _ in range(args.warmup):
        step(x, y)
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(args.batches):
        step(x, y)
    _sync(device)
    return args.batches * batch / (time.perf_counter() - t0)


def time_pil(args, catalog, device, precision, batch):
    step = _stepper(args.model, device, precision)
    ds = PILGalaxies(catalog.paths, catalog.labels.astype(np.float32))
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, drop_last=True,
                                         num_workers=args.pil_workers,
                                         persistent_workers=args.pil_workers > 0)
    def batches():  # endless: small data sets are walked through several times
        while True:
            yield from loader

    it = batches()
    for _ in range(args.warmup):
        x, y = next(it)
        step(x.to(device), y.to(device))
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(args.batches):
        x, y = next(it)
        step(x.to(device), y.to(device))
    _sync(device)
    return args.batches * batch / (time.perf_counter() - t0)


def time_cache(args, data_dir, cache, batch, workdir):
    half = max(1, (args.warmup + args.batches) // 2)
    run = train(TrainConfig(data=data_dir, out=Path(workdir) / "run", cache=cache,
                            model=args.model, epochs=2, batches_per_epoch=half, batch_size=batch,
                            precision=args.precision, device=args.device, val_fraction=0.02,
                            augment=not args.no_augment, progress=False))
    return read_metrics(run)[-1]["images_per_s"]


def main(argv=None):
    args = parse_args(argv)
    device = resolve_device(args.device)
    precision = resolve_precision(device, args.precision)
    batch = args.batch_size or model_config(args.model).batch_size
    with tempfile.TemporaryDirectory(prefix="galmorph-bench-") as tmp:
        data_dir = Path(args.data)
        if args.data == "synthetic" or not data_dir.is_dir():
            from galmorph.data.synth import make_synthetic
            print(f"data: synthetic set of {args.synthetic_n} galaxies "
                  f"({args.data} not found)" if args.data != "synthetic" else
                  f"data: synthetic set of {args.synthetic_n} galaxies")
            data_dir = make_synthetic(Path(tmp) / "synth", n=args.synthetic_n, seed=0,
                                      progress=False)
        cache = Path(tmp) / "cache" if str(data_dir).startswith(tmp) else None
        data = prepare(data_dir, cache_dir=cache, progress=True)
        from galmorph.data.catalogs import open_catalog
        catalog = open_catalog(data_dir)
        print(f"model {args.model}, batch {batch}, device {device}, precision {precision}, "
              f"{args.batches} timed batches after {args.warmup} warm-up, torch threads "
              f"{torch.get_num_threads()}, data {data_dir} ({len(data)} galaxies)")
        figures = {"compute": time_compute(args, data, device, precision, batch)}
        print(f"  compute limit (fixed in-memory batch): {figures['compute']:8.1f} images/s")
        figures["cache"] = time_cache(args, data_dir, cache, batch, tmp)
        print(f"  cache pipeline (galmorph train):       {figures['cache']:8.1f} images/s")
        figures["pil"] = time_pil(args, catalog, device, precision, batch)
        print(f"  per-sample PIL DataLoader ({args.pil_workers} workers):  "
              f"{figures['pil']:8.1f} images/s")
    figures["cache_over_compute"] = figures["cache"] / figures["compute"]
    figures["cache_over_pil"] = figures["cache"] / figures["pil"]
    print(f"  cache / compute = {figures['cache_over_compute']:.2f} (target >= 0.90); "
          f"cache / PIL = {figures['cache_over_pil']:.2f} (target >= 2)")
    print("  (figures depend on machine load; compare runs on an idle machine)")
    if args.json:
        print(json.dumps({**figures, "model": args.model, "batch": batch,
                          "device": str(device), "precision": precision}))
    return figures


if __name__ == "__main__":
    main()
