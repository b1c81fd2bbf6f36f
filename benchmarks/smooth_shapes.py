"""Does the shipped model take smooth cigar-shaped galaxies for edge-on disks?

On the shipped model's validation split (its card's IDs, in gz-kaggle-5k and
gz-kaggle-partial-3k) the galaxies that volunteers called smooth
(``Class1.1 >= 0.5``) are grouped by their most voted shape (Q7: completely
round, in between, cigar-shaped), and the real edge-on disks
(``Class2.1 >= 0.5``) are shown beside them. For each group it prints the
mean of ``Class1.2`` (features or disk) and ``Class2.1`` (edge-on), as labelled
and as predicted, the mean excess of the prediction for features or disk with
a 95 % bootstrap interval over galaxies, and the model's RMSE over Q1 and Q2
(the Kaggle labels, so with the weighting down the tree).

    python benchmarks/smooth_shapes.py [--data ../shared/data] [--model PATH]
"""
import argparse
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FOLDERS = ("gz-kaggle-5k", "gz-kaggle-partial-3k")


def _mean_interval(x, n_boot=2000, seed=0):
    """The mean of ``x`` and a 95 % bootstrap interval of it (as ``tools/ship_model.py``)."""
    from galmorph._util._stats import bootstrap_means

    means = bootstrap_means(x, n_boot, np.random.default_rng(seed))
    return x.mean(), np.percentile(means, 2.5), np.percentile(means, 97.5)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    parser.add_argument("--model", default=None, help="checkpoint (default: the shipped model)")
    args = parser.parse_args()

    from galmorph import schema
    from galmorph.data.cache import prepare
    from galmorph.inference.engine import predict_arrays
    from galmorph.models.card import read_card
    from galmorph.models.checkpoint import load_checkpoint
    from galmorph.paths import shipped_model_path

    ckpt = load_checkpoint(args.model or shipped_model_path())
    val_ids = read_card()["split"]["val_ids"]
    labels, preds = [], []
    for name in FOLDERS:
        data = prepare(args.data / name, crop=ckpt.preprocessing["crop"],
                       size=ckpt.preprocessing["size"], progress=False)
        rows = np.flatnonzero(np.isin(data.ids, val_ids))
        labels.append(np.asarray(data.labels[rows], float))
        preds.append(predict_arrays(ckpt, data.images[rows], batch_size=256))
    y, p = np.concatenate(labels), np.concatenate(preds)
    col = schema.column_index
    q12 = [col(c) for c in ("Class1.1", "Class1.2", "Class1.3", "Class2.1", "Class2.2")]
    shapes = y[:, [col("Class7.1"), col("Class7.2"), col("Class7.3")]]
    smooth = y[:, col("Class1.1")] >= 0.5
    shape = np.nan_to_num(shapes).argmax(1)
    groups = {f"smooth, mostly {schema.ANSWER_LABELS[col(c)]}": smooth & (shape == k)
              for k, c in enumerate(("Class7.1", "Class7.2", "Class7.3"))}
    groups["edge-on disks (Class2.1 >= 0.5)"] = y[:, col("Class2.1")] >= 0.5
    groups["whole validation split"] = np.ones(len(y), bool)

    print(f"model {args.model or 'shipped'}; {len(y)} validation galaxies of {', '.join(FOLDERS)}")
    print(f"{'group':42s} {'N':>4s}  {'features or disk':>18s}  {'model - label':>20s}  "
          f"{'edge-on':>15s}  RMSE Q1+Q2")
    print(f"{'':42s} {'':>4s}  {'label / model':>18s}  {'(95 % interval)':>20s}  "
          f"{'label / model':>15s}")
    for name, rows in groups.items():
        a, b = y[rows], p[rows]
        rmse = float(np.sqrt(np.nanmean((a[:, q12] - b[:, q12]) ** 2)))
        excess = _mean_interval(b[:, col("Class1.2")] - a[:, col("Class1.2")])
        print(f"{name:42s} {int(rows.sum()):4d}  "
              f"{a[:, col('Class1.2')].mean():8.2f} / {b[:, col('Class1.2')].mean():.2f}  "
              f"{excess[0]:+7.2f} ({excess[1]:+.2f} to {excess[2]:+.2f})  "
              f"{a[:, col('Class2.1')].mean():6.2f} / {b[:, col('Class2.1')].mean():.2f}  "
              f"{rmse:.4f}")


if __name__ == "__main__":
    main()
