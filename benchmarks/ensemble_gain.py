"""What averaging buys: score trained models and their ensemble on one validation split.

Each checkpoint, then the mean of all of them (:mod:`galmorph.models.ensemble`,
saved and reloaded in float16 as a shipped file would be, or in ``--dtype int8``
or ``float32``), is scored on the
shipped model's validation split of gz-kaggle-5k plus gz-kaggle-partial-3k, over
the known labels: overall and on the unselected part (5k IDs <= 115091 plus every
partial-3k galaxy), with 95 % bootstrap intervals. Give ``shipped`` for the
shipped model. Every checkpoint must have been trained on that split (the shipped
card's IDs; ``galmorph train --split-seed 0`` on the same two folders holds them out).

    python benchmarks/ensemble_gain.py shipped runs/frontier/resnet18-tailored/best.pt
    python benchmarks/ensemble_gain.py runs/m0/best.pt runs/m1/best.pt runs/m2/best.pt
    python benchmarks/ensemble_gain.py --dtype int8 runs/m{0,1,2,4,5,6}/best.pt
"""
import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
UNSELECTED_ID_MAX = 115091


def _score(path, data, val_ids, unselected):
    from galmorph.inference.evaluation import evaluate

    result = evaluate(path, data, split=val_ids, subsets={"unselected": unselected},
                      precision="fp32")
    part = result["subsets"]["unselected"]
    return result, part


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+",
                        help="checkpoint files, or 'shipped' for the shipped model")
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    parser.add_argument("--dtype", choices=("float16", "int8", "float32"), default="float16",
                        help="how the ensemble's file stores its weights (default: float16)")
    args = parser.parse_args()

    from galmorph.data.cache import combine, prepare
    from galmorph.models.card import read_card
    from galmorph.models.checkpoint import save_checkpoint
    from galmorph.models.ensemble import ensemble_checkpoints
    from galmorph.paths import shipped_model_path

    paths = [shipped_model_path() if c == "shipped" else Path(c) for c in args.checkpoints]
    val_ids = read_card()["split"]["val_ids"]
    for path in paths:
        split = path.parent / "split.json"
        if split.is_file() and json.loads(split.read_text())["val_ids"] != val_ids:
            parser.error(f"{path} was trained on another split than the shipped model's; "
                         f"train it with --split-seed 0 on the same two folders")
    ensemble, prep = ensemble_checkpoints(paths)
    folders = [args.data / "gz-kaggle-5k", args.data / "gz-kaggle-partial-3k"]
    data = combine([prepare(f, crop=prep["crop"], size=prep["size"], progress=False)
                    for f in folders])
    ids = np.asarray(data.ids)
    unselected = ids[(data.folder_index == 1) | (ids <= UNSELECTED_ID_MAX)].tolist()

    print(f"{len(val_ids)} validation galaxies, "
          f"{len(set(unselected) & set(val_ids))} of them unselected; fp32 inference")
    rows = []
    for path in paths:
        rows.append((str(path), *_score(path, data, val_ids, unselected)))
    with tempfile.TemporaryDirectory() as tmp:
        file = save_checkpoint(Path(tmp) / "ensemble.pt", ensemble, preprocessing=prep,
                               dtype=getattr(torch, args.dtype))
        size = file.stat().st_size
        rows.append((f"mean of the {len(paths)} ({args.dtype} file, {size / 1e6:.1f} MB)",
                     *_score(file, data, val_ids, unselected)))
    for name, result, part in rows:
        lo, hi = result["rmse_ci95"]
        ulo, uhi = part["rmse_ci95"]
        print(f"RMSE {result['rmse']:.4f} ({lo:.4f}-{hi:.4f})  unselected {part['rmse']:.4f} "
              f"({ulo:.4f}-{uhi:.4f})  {name}")
    print(f"mean baseline {rows[0][1]['baselines']['mean']:.4f}")


if __name__ == "__main__":
    main()
