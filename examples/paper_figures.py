"""
Every figure of the paper for a data folder and a run
=====================================================

Make every figure of the paper for a data folder and a training run.

The label figures (histograms, correlations, prototypes) use every labelled
galaxy; the model figures use the run's checkpoint (``best.pt`` unless
``--checkpoint`` says otherwise) on the run's held-out validation galaxies
(its ``split.json``). On the synthetic set, from scratch::

    galmorph synth /tmp/synth --n 300
    galmorph train /tmp/synth --model cnn --out /tmp/run --epochs 4 \\
        --batches-per-epoch 4 --batch-size 32
    python examples/paper_figures.py /tmp/synth /tmp/run --out /tmp/figures

The figures are written as ``OUT/<name>.png`` (see docs/figures.rst):
label_histograms, label_correlation, prototypes, conv_kernels, loss_curves,
predicted_vs_true, predicted_prototypes. It needs a data folder and a training run, so
the documentation shows it without running it; one of its figures, the answer
prototypes of the real Kaggle data, saved:

.. image:: /_static/figures_prototypes.png
   :alt: Mosaics of the Kaggle galaxies with the highest vote fraction for ten answers.
"""
# sphinx_gallery_thumbnail_path = '_static/figures_prototypes.png'
import argparse
import sys
import time
from pathlib import Path

import numpy as np

from galmorph import plots
from galmorph.errors import GalmorphError


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Make every figure of the paper for a data folder and a training run.")
    p.add_argument("data_dir", type=Path,
                   help="labelled data folder (Kaggle, GZ2 or synthetic layout) or a cache "
                        "written by 'galmorph prepare'")
    p.add_argument("run_dir", type=Path, help="run directory written by 'galmorph train'")
    p.add_argument("--out", type=Path, default=Path("figures"),
                   help="output folder, created (default: ./figures)")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="checkpoint to use (default: RUN_DIR/best.pt)")
    p.add_argument("--answers", nargs="+", default=None,
                   help="answers for the histogram and predicted-vs-true grids: Kaggle "
                        "columns, labels or Q<n> (default: all 37)")
    p.add_argument("--prototype-answers", nargs="+", default=None,
                   help="answers for the two prototype mosaics (default: ten common and "
                        "striking ones)")
    p.add_argument("--n", type=int, default=4, help="galaxies per answer in mosaics (default: 4)")
    p.add_argument("--tta", default=None,
                   help="test-time augmentation for the predictions: d8 or a number of "
                        "rotations (default: none)")
    p.add_argument("--format", default="png", help="file format, e.g. png, pdf (default: png)")
    p.add_argument("--dpi", type=int, default=120, help="resolution of raster files (default: 120)")
    return p.parse_args(argv)


def load_run(run_dir, data, checkpoint):
    """The run's config, checkpoint, prepared data and (train, validation) rows."""
    from galmorph.data.cache import open_prepared, prepare
    from galmorph.models.checkpoint import load_checkpoint
    from galmorph.training.batches import load_split
    from galmorph.training.config import read_run_config

    if not (run_dir / "config.json").is_file():
        raise SystemExit(f"error: {run_dir} is not a galmorph run directory (no config.json); "
                         f"give the --out folder of 'galmorph train'")
    config = read_run_config(run_dir)
    ckpt = load_checkpoint(checkpoint or run_dir / "best.pt")
    pre = ckpt.preprocessing
    cache = Path(config.get("cache") or "")
    if (data / "meta.json").is_file():
        prepared = open_prepared(data)  # a cache from 'galmorph prepare'
    elif data.resolve() == Path(config["data"]) and (cache / "meta.json").is_file():
        prepared = open_prepared(cache)  # the very cache the run trained on
    else:
        prepared = prepare(data, crop=pre["crop"], size=pre["size"])
    if prepared.labels is None:
        raise SystemExit(f"error: {data} has no labels; the figures need labelled galaxies")
    split = run_dir / "split.json"
    if split.is_file():
        train, val = load_split(split, prepared.ids)
    else:
        print(f"no {split}: the model figures use every galaxy", file=sys.stderr)
        train = val = np.arange(len(prepared))
    return config, ckpt, prepared, train, val


def make_figures(args):
    from galmorph.inference.engine import predict_arrays

    config, ckpt, data, train, val = load_run(args.run_dir, args.data_dir, args.checkpoint)
    labels = np.asarray(data.labels, dtype=np.float64)                 # (N, 37)
    args.out.mkdir(parents=True, exist_ok=True)

    def save(name, fig):
        path = args.out / f"{name}.{args.format}"
        fig.savefig(path, dpi=args.dpi)
        print(f"wrote {path}")

    save("label_histograms", plots.plot_label_histograms(labels, args.answers))
    save("label_correlation", plots.plot_label_covariance(labels))
    save("prototypes", plots.plot_prototypes(data.images, labels, args.prototype_answers,
                                             args.n))
    save("conv_kernels", plots.plot_conv_kernels(ckpt))
    # Mean-label baseline: the training part's mean label, scored on the validation part.
    baseline = float(np.sqrt(np.mean((labels[val] - labels[train].mean(axis=0)) ** 2)))
    model = config.get("model")
    save("loss_curves", plots.plot_loss_curves(
        args.run_dir, baseline=baseline, paper=model if model in plots.PAPER_VAL_RMSE else None))

    tta = int(args.tta) if args.tta and args.tta.isdigit() else args.tta
    images = np.asarray(data.images[val])                              # (n_val, 3, H, W)
    pred = predict_arrays(ckpt.model, images, tta=tta)                  # (n_val, 37)
    rmse = float(np.sqrt(np.mean((pred - labels[val]) ** 2)))
    print(f"{len(val)} validation galaxies: RMSE {rmse:.4f} (mean baseline {baseline:.4f})")
    save("predicted_vs_true", plots.plot_predicted_vs_true(pred, labels[val], args.answers))
    save("predicted_prototypes", plots.plot_predicted_prototypes(
        images, pred, args.prototype_answers, args.n, labels=labels[val]))


def main(argv=None):
    args = parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")  # files only; never opens a window
    start = time.perf_counter()
    try:
        make_figures(args)
    except (GalmorphError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
