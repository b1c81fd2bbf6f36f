"""Throughput of ``galmorph predict``: JPEG files -> 37 fractions -> written CSV, images/s.

Measures, on the Kaggle JPEGs of ``gz-kaggle-5k`` (or any folder of images):

- ``GEMM peak``: the fp32 matrix-product rate of this machine (``torch.mm``,
  2048 x 2048), and the int8 one (``quantized.linear``) on CPUs with int8
  kernels, in GMAC/s, timed in the same rounds as the inference;
- ``decode``: ``crop_and_resize`` alone in one process (what one decoding core does);
- ``inference``: :func:`~galmorph.inference.engine.predict_arrays` alone on
  already-decoded images, for fp32, bf16 (where native) and int8 side by side,
  interleaved over ``--rounds`` rounds (best round kept, so that other
  processes on the cores disturb the ratios less), each as GMAC/s and as a
  fraction of the fp32 GEMM peak, and the int8/fp32 speed ratio;
- ``end to end``: :func:`~galmorph.inference.files.predict_files` from the
  files to a written Kaggle CSV, for each ``--precision`` and ``--workers`` setting.

``--model shipped`` uses the shipped model (galmorph/weights); any other name an
untrained network of that architecture (the weights hardly change the speed),
saved and loaded as a real checkpoint. int8 is calibrated on the shipped example
galaxies, as ``--precision int8`` does (the calibration time is printed).

``--isa avx2`` restricts torch, oneDNN, FBGEMM and MKL to AVX2 kernels
(``ATEN_CPU_CAPABILITY``, ``ONEDNN_MAX_CPU_ISA``, ``FBGEMM_ENABLE_INSTRUCTIONS``,
``MKL_ENABLE_INSTRUCTIONS``), to stand in for an AVX2-only CPU on a newer one;
bf16 is then not native and left out. The clock, caches and memory stay those
of this machine.

Run::

    python benchmarks/predict_throughput.py [DATA] [--model shipped] [--compare fp32,bf16,int8]
        [--precision fp32,int8] [--threads 2] [--workers 1] [--limit 3000] [--isa avx2] [--quick]

A full run takes about 2-3 minutes on 2 cores; ``--quick`` about one. Rates are
wall-clock images per second; report them with the load average printed at the end.
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gz-kaggle-5k"
_AVX2_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
             "DNNL_MAX_CPU_ISA": "AVX2", "FBGEMM_ENABLE_INSTRUCTIONS": "AVX2",
             "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", nargs="?", default=str(DEFAULT_DATA),
                   help="Kaggle-layout folder (its images_training_rev1/ is used) or a folder "
                        f"of images (default: {DEFAULT_DATA})")
    p.add_argument("--model", default="resnet18",
                   help="shipped (the model in galmorph/weights), or an untrained cnn, resnet18, "
                        "resnet18-tailored or resnet18-cpu (default: resnet18)")
    p.add_argument("--compare", default="fp32,bf16,int8",
                   help="precisions timed side by side for inference alone; bf16 only where "
                        "native, int8 only on CPUs with int8 kernels (default: fp32,bf16,int8)")
    p.add_argument("--precision", default="fp32,int8",
                   help="comma-separated precisions of the end-to-end runs (default: fp32,int8)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--threads", type=int, default=2,
                   help="torch intra-op threads (default: 2)")
    p.add_argument("--workers", default="1",
                   help="comma-separated decoding-process counts to try end to end "
                        "(default: 1)")
    p.add_argument("--limit", type=int, default=3000,
                   help="images used end to end (default: 3000)")
    p.add_argument("--images", type=int, default=2048,
                   help="images per round of the inference-alone timing (default: 2048)")
    p.add_argument("--rounds", type=int, default=3,
                   help="interleaved rounds of the inference-alone timing (default: 3)")
    p.add_argument("--batch-size", type=int, default=256, help="batch size (default: 256)")
    p.add_argument("--chunk-size", type=int, default=1024,
                   help="files per decode/predict step (default: 1024)")
    p.add_argument("--tta", default=None, help="none, d8 or N (default: none)")
    p.add_argument("--isa", choices=("native", "avx2"), default="native",
                   help="kernels to allow: native, or avx2 to stand in for an AVX2-only CPU "
                        "(default: native)")
    p.add_argument("--quick", action="store_true",
                   help="a shorter run: 1,000 files end to end, 768 images x 2 rounds "
                        "(default: off)")
    args = p.parse_args(argv)
    if args.quick:
        args.limit, args.images, args.rounds = min(args.limit, 1000), 768, 2
    return args


def restrict_isa(isa):
    """Set the kernel-choice variables before torch is imported (they are read once)."""
    if isa == "native":
        return
    if "torch" in sys.modules:
        sys.exit("--isa must be applied before torch is imported")
    os.environ.update(_AVX2_ENV)


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


def gemm_kernels(device, n=2048):
    """``{"fp32": fn, "int8": fn}``: one large matrix product each, and its multiply-adds."""
    import torch

    from galmorph.runtime import cpu_supports_int8

    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    kernels = {"fp32": lambda: (torch.mm(a, b), sync())}
    if device.type == "cpu" and cpu_supports_int8():
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.backends.quantized.engine = "x86"
            x = torch.quantize_per_tensor(torch.rand(n, n), 1 / 255, 0, torch.quint8)
            w = torch.quantize_per_tensor(torch.randn(n, n) / 4, 1 / 64, 0, torch.qint8)
            packed = torch.ops.quantized.linear_prepack(w, None)
        kernels["int8"] = lambda: torch.ops.quantized.linear(x, packed, 1.0, 0)
    for run in kernels.values():
        run()                                                 # warm-up
    return kernels, n ** 3


def gemm_peak(kernel, macs, reps=5):
    """GMAC/s of the best of ``reps`` calls of ``kernel``."""
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        kernel()
        best = min(best, time.perf_counter() - start)
    return macs / best / 1e9


def gmacs_per_image(model, size=80):
    """Multiply-adds of one ``size`` x ``size`` image through the model's convs and linears."""
    import torch

    total = [0]

    def hook(module, inputs, output):
        if isinstance(module, torch.nn.Conv2d):
            per_out = module.in_channels // module.groups * module.kernel_size[0] \
                * module.kernel_size[1]
            total[0] += output[0].numel() * per_out
        else:
            total[0] += module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    with torch.no_grad():
        model(torch.rand(1, 3, size, size))
    for h in handles:
        h.remove()
    return total[0] / 1e9


def runnable(precisions, device, isa):
    """The precisions of ``precisions`` that run natively here, and notes on the others."""
    from galmorph.runtime import cpu_supports_bf16, cpu_supports_int8

    keep, notes = [], []
    for prec in precisions:
        if prec == "bf16" and device.type == "cpu" and (isa != "native" or not cpu_supports_bf16()):
            notes.append("bf16: not native on this CPU" + (" (--isa avx2)" if isa != "native"
                                                           else "") + ", left out")
        elif prec == "int8" and (device.type != "cpu" or not cpu_supports_int8()):
            notes.append(f"int8: no int8 kernels on {device}, left out")
        elif prec == "fp16" and device.type == "cpu":
            notes.append("fp16: not native on the CPU, left out")
        else:
            keep.append(prec)
    return keep, notes


def side_by_side(model, images, precisions, kernels, macs, args):
    """Best-of-rounds images/s of ``predict_arrays`` alone per precision, and GEMM peaks.

    Everything is interleaved in each round, so that a busy spell of other
    processes on the cores slows all of them alike, and the best round is kept.
    """
    from galmorph.inference.engine import predict_arrays

    batch = np.concatenate([images] * (args.images // len(images) + 1))[:args.images]
    best, peaks = {}, {}
    for prec in precisions:                                   # warm-up; int8 quantizes here
        start = time.perf_counter()
        predict_arrays(model, batch[:args.batch_size], batch_size=args.batch_size,
                       precision=prec, device=args.device)
        if prec == "int8":
            print(f"int8 quantization + calibration (once per process): "
                  f"{time.perf_counter() - start:.1f} s")
    for _ in range(args.rounds):
        for name, kernel in kernels.items():
            peaks[name] = max(peaks.get(name, 0.0), gemm_peak(kernel, macs))
        for prec in precisions:
            start = time.perf_counter()
            predict_arrays(model, batch, batch_size=args.batch_size, tta=args.tta,
                           precision=prec, device=args.device)
            rate = len(batch) / (time.perf_counter() - start)
            best[prec] = max(best.get(prec, 0.0), rate)
    return best, peaks


def end_to_end_rate(ckpt, files, workers, precision, args, tmp):
    from galmorph.inference.files import predict_files

    out = Path(tmp) / f"pred-{precision}-{workers}.csv"
    start = time.perf_counter()
    table = predict_files(ckpt, files, out=out, batch_size=args.batch_size, tta=args.tta,
                          device=args.device, precision=precision, progress=False,
                          workers=workers, chunk_size=args.chunk_size)
    seconds = time.perf_counter() - start
    assert len(table) == len(files) and out.is_file()
    return len(files) / seconds, seconds


def _checkpoint(args, tmp):
    from galmorph.models import build_model
    from galmorph.models.checkpoint import save_checkpoint
    from galmorph.paths import shipped_model_path

    if args.model == "shipped":
        return shipped_model_path()
    import torch

    torch.manual_seed(0)
    return save_checkpoint(Path(tmp) / "bench.pt", build_model(args.model).eval(),
                           preprocessing={"crop": 224, "size": 80})


def report_inference(rates, gmac, peak_fp32, peak_int8):
    print(f"{'inference alone':<16} {'images/s':>9} {'GMAC/s':>8} {'of fp32 GEMM peak':>18}"
          f" {'vs fp32':>8}")
    for prec, rate in rates.items():
        ratio = f"{rate / rates['fp32']:7.2f}x" if "fp32" in rates else "       -"
        print(f"{prec:<16} {rate:9.0f} {rate * gmac:8.1f} {rate * gmac / peak_fp32:17.1%} "
              f"{ratio}")
    if "int8" in rates and peak_int8:
        print(f"int8 at {rates['int8'] * gmac / peak_int8:.1%} of the int8 GEMM peak")
    if "int8" in rates and "fp32" in rates:
        print(f"int8 / fp32 speed ratio: {rates['int8'] / rates['fp32']:.2f} (target >= 1.8)")


def main(argv=None):
    args = parse_args(argv)
    restrict_isa(args.isa)
    import torch

    from galmorph.models.checkpoint import load_checkpoint
    from galmorph.runtime import resolve_device

    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    files = image_files(args.data, args.limit)
    print(f"{len(files)} images from {files[0].parent}; model {args.model}, {args.threads} torch "
          f"threads, tta {args.tta or 'none'}, batch {args.batch_size}; torch {torch.__version__}"
          f", kernels {torch.backends.cpu.get_cpu_capability()} (--isa {args.isa})")
    compare, notes = runnable(args.compare.split(","), device, args.isa)
    e2e, _ = runnable(args.precision.split(","), device, args.isa)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = _checkpoint(args, tmp)
        model = load_checkpoint(ckpt).model
        gmac = gmacs_per_image(model)
        kernels, macs = gemm_kernels(device)
        print(f"network: {gmac:.3f} GMAC per 80x80 image")
        rate, images = decode_rate(files)
        print(f"decode (crop_and_resize, 1 process):   {rate:8.0f} images/s")
        for note in notes:
            print(note)
        rates, peaks = side_by_side(model, images, compare, kernels, macs, args)
        print(f"GEMM peak, fp32 (torch.mm 2048^2): {peaks['fp32']:7.1f} GMAC/s"
              + (f"; int8 (quantized.linear): {peaks['int8']:7.1f} GMAC/s" if "int8" in peaks
                 else ""))
        report_inference(rates, gmac, peaks["fp32"], peaks.get("int8"))
        for precision in e2e:
            for workers in [int(w) for w in args.workers.split(",")]:
                rate, seconds = end_to_end_rate(ckpt, files, workers, precision, args, tmp)
                print(f"end to end, {precision}, {workers} decoding process(es): {rate:8.0f} "
                      f"images/s ({seconds:.1f} s, JPEG files -> written CSV)")
    load = os.getloadavg()
    print(f"load average during the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          f"on {os.cpu_count()} cores (other processes slow every figure above)")


if __name__ == "__main__":
    main()
