"""``galmorph evaluate``: score a checkpoint on labelled data, next to baselines."""

from galmorph.cli._args import (add_device, add_image_dir, add_precision, add_progress,
                               progress_of, split_checkpoint, tta_arg, under_image_dir)

__all__ = ["add_parser", "run"]


def add_parser(subparsers):
    p = subparsers.add_parser(
        "evaluate",
        help="RMSE of a checkpoint per answer and per question, next to baselines",
        description="Predict the labelled galaxies of DATA and report the Kaggle RMSE over "
                    "all galaxies and the 37 answers, per question and per answer, next to "
                    "the predict-the-training-mean, central-pixel regression and all-zeros "
                    "baselines fitted on the galaxies outside the evaluated split. For a "
                    "checkpoint that carries a trust calibration ('galmorph calibrate'), also "
                    "the empirical coverage and mean width of its intervals at 50, 68, 90 and "
                    "95 % nominal coverage, per question at 90 %, and its merger flags' "
                    "recall and precision.",
    )
    p.add_argument("paths", metavar="[CHECKPOINT] DATA", nargs="*",
                   help="optionally a checkpoint file first (e.g. runs/gz2/best.pt; default: "
                        "$GALMORPH_MODEL, the registered default, else the shipped model), "
                        "then labelled data folder(s) (Kaggle or GZ2 layout, labels may be "
                        "partial; prepared and cached with the checkpoint's crop and size) or "
                        "'galmorph prepare' cache folders (default: the data the checkpoint's "
                        "run was trained on); for a 'galmorph finetune' model, a table of its "
                        "labels, scored by ROC AUC, precision and recall (binary), accuracy "
                        "(multiclass) or RMSE (regression) with 95 %% intervals")
    p.add_argument("--model", metavar="CHECKPOINT", default=None,
                   help="checkpoint file, instead of giving it first (default: as above)")
    from galmorph._util._choices import EVALUATION_SPLITS

    p.add_argument("--split", default="validation", choices=EVALUATION_SPLITS,
                   help="galaxies to score: the run's saved validation split (falls back to "
                        "all, with a note, where there is none) or all (default: validation)")
    p.add_argument("--tta", type=tta_arg, default=None, metavar="none|d8|N",
                   help="test-time augmentation: average over the 8 flips/rotations (d8) or N "
                        "rotations (default: none)")
    p.add_argument("--id-max", dest="id_max", type=int, default=None, metavar="ID",
                   help="also report galaxies with ID <= this (115091 selects the unselected "
                        "part of the Kaggle 5k sample) (default: none)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object instead of the table; a calibrated checkpoint's "
                        "coverage is under \"trust\" (default: table)")
    p.add_argument("--batch-size", dest="batch_size", type=int, default=256,
                   help="images per forward pass (default: 256)")
    add_device(p)
    add_precision(p)
    from galmorph.data import ON_ERROR

    p.add_argument("--on-error", dest="on_error", default="auto", choices=ON_ERROR,
                   help="bad label row or unreadable image while preparing DATA, or a galaxy "
                        "also in an earlier DATA folder: stop with an error (raise) or leave it "
                        "out (skip); auto stops too, but skips the rows of a GZ2 release that "
                        "break the decision tree by more than its rounding (0.025), with one "
                        "warning (default: auto)")
    add_image_dir(p, "DATA folders", "the working directory")
    add_progress(p)
    p.set_defaults(func=run)
    return p


def run(args):
    import json

    from galmorph.inference.evaluation import evaluate, format_report
    from galmorph.models.checkpoint import load_checkpoint
    from galmorph.trust.measure import TrustMeasure, format_trust

    checkpoint, data = split_checkpoint(args.paths, args.model)
    if args.image_dir is not None and not data:
        from galmorph.errors import ParameterError

        raise ParameterError("--image-dir DIR resolves the DATA folders given; give DATA too "
                             "(without DATA the checkpoint's run names its data)")
    data = under_image_dir(data, args.image_dir)
    data = None if not data else (data[0] if len(data) == 1 else data)
    checkpoint = load_checkpoint(checkpoint)       # loaded once: its meta says if calibrated
    if checkpoint.name == "finetuned":             # its own labels: scored as their tasks say
        return _finetuned(checkpoint, data, args)
    trust = (checkpoint.meta or {}).get("trust")
    result = evaluate(checkpoint, data, split=args.split, tta=args.tta,
                      id_max=args.id_max, batch_size=args.batch_size, device=args.device,
                      precision=args.precision, progress=progress_of(args),
                      on_error=args.on_error, extra=TrustMeasure(trust) if trust else None)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(format_report(result))
        if result.get("trust"):
            print("\n" + format_trust(result["trust"]))
    return 0


def _finetuned(checkpoint, data, args):
    """``galmorph evaluate`` of a ``galmorph finetune`` model: DATA is a table of its labels."""
    import json

    from galmorph.adapt.finetune_eval import evaluate_finetuned, format_finetuned

    result = evaluate_finetuned(checkpoint, data, split=args.split, tta=args.tta,
                                device=args.device, precision=args.precision,
                                batch_size=args.batch_size, progress=progress_of(args))
    print(json.dumps(result, indent=2) if args.json else format_finetuned(result))
    return 0
