"""Throughput of ``galmorph predict``: JPEG files -> 37 fractions -> written CSV, images/s.

Measures, on the Kaggle JPEGs of ``gz-kaggle-5k`` (or any folder of images):

- ``decode``: ``crop_and_resize`` alone in one process (what one decoding core does);
- ``inference``: :func:`~galmorph.inference.engine.predict_arrays` alone on
  already-decoded images (what the network does with ``--threads`` threads);
- ``end to end``: :func:`~galmorph.inference.files.predict_files` from the
  files to a written Kaggle CSV, for each ``--workers`` setting.

The model is an untrained network of the chosen architecture (the weights do
not change the speed), saved and loaded as a real checkpoint. The goal is
1,000 images/s end to end for resnet18 with bf16 on 2 cores.

Run::

    python benchmarks/predict_throughput.py [DATA] [--model resnet18] [--precision bf16]
        [--threads 2] [--workers 0,1,2] [--limit 5000]

Rates are wall-clock images per second; they depend on every other process
sharing the cores, so report them with the load average printed at the end.
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gz-kaggle-5k"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", nargs="?", default=str(DEFAULT_DATA),
                   help="Kaggle-layout folder (its images_training_rev1/ is used) or a folder "
                        f"of images (default: {DEFAULT_DATA})")
    p.add_argument("--model", default="resnet18",
                   help="cnn, resnet18 or resnet18-tailored (default: resnet18)")
    p.add_argument("--precision", default="bf16", help="bf16 or fp32 (default: bf16)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--threads", type=int, default=2,
                   help="torch intra-op threads (default: 2)")
    p.add_argument("--workers", default="0,1,2",
                   help="comma-separated decoding-process counts to try end to end "
                        "(default: 0,1,2)")
    p.add_argument("--limit", type=int, default=5000, help="images used (default: 5000)")
    p.add_argument("--batch-size", type=int, default=256, help="batch size (default: 256)")
    p.add_argument("--chunk-size", type=int, default=1024,
                   help="files per decode/predict step (default: 1024)")
    p.add_argument("--tta", default=None, help="none, d8 or N (default: none)")
    return p.parse_args(argv)


def image_files(data, limit):
    from galmorph.data.catalogs import find_images

    folder = Path(data)
    if (folder / "images_training_rev1").is_dir():
        folder = folder / "images_training_rev1"
    files = find_images(folder)[:limit]
    if not files:
        sys.exit(f"no images in {folder}")
    return files


def decode_rate(files, n=500):
    from galmorph.data.images import crop_and_resize

    files = files[:n]
    start = time.perf_counter()
    images = np.stack([crop_and_resize(f, crop=224, size=80) for f in files])
    return len(files) / (time.perf_counter() - start), images


def inference_rate(model, images, args):
    from galmorph.inference.engine import predict_arrays

    reps = max(1, 2000 // len(images))
    batch = np.concatenate([images] * reps)
    predict_arrays(model, batch[:args.batch_size], batch_size=args.batch_size,
                   precision=args.precision, device=args.device)            # warm-up
    start = time.perf_counter()
    predict_arrays(model, batch, batch_size=args.batch_size, tta=args.tta,
                   precision=args.precision, device=args.device)
    return len(batch) / (time.perf_counter() - start)


def end_to_end_rate(ckpt, files, workers, args, tmp):
    from galmorph.inference.files import predict_files

    out = Path(tmp) / f"pred-{workers}.csv"
    start = time.perf_counter()
    table = predict_files(ckpt, files, out=out, batch_size=args.batch_size, tta=args.tta,
                          device=args.device, precision=args.precision, progress=False,
                          workers=workers, chunk_size=args.chunk_size)
    seconds = time.perf_counter() - start
    assert len(table) == len(files) and out.is_file()
    return len(files) / seconds, seconds


def main(argv=None):
    import torch

    from galmorph.models import build_model
    from galmorph.models.checkpoint import load_checkpoint, save_checkpoint

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    files = image_files(args.data, args.limit)
    print(f"{len(files)} images from {files[0].parent}; model {args.model}, "
          f"precision {args.precision}, {args.threads} torch threads, tta {args.tta or 'none'}")
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        model = build_model(args.model).eval()
        ckpt = save_checkpoint(Path(tmp) / "bench.pt", model,
                               preprocessing={"crop": 224, "size": 80})
        rate, images = decode_rate(files)
        print(f"decode (crop_and_resize, 1 process):   {rate:8.0f} images/s")
        rate = inference_rate(load_checkpoint(ckpt).model, images, args)
        print(f"inference (predict_arrays):            {rate:8.0f} images/s")
        for workers in [int(w) for w in args.workers.split(",")]:
            rate, seconds = end_to_end_rate(ckpt, files, workers, args, tmp)
            print(f"end to end, {workers} decoding process(es): {rate:8.0f} images/s "
                  f"({seconds:.1f} s, JPEG files -> written CSV)")
    load = os.getloadavg()
    print(f"load average during the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          f"on {os.cpu_count()} cores (other processes slow every figure above)")


if __name__ == "__main__":
    main()
