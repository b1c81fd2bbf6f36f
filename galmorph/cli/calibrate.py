"""``galmorph calibrate``: fit a checkpoint's intervals, merger probabilities and OOD flag."""
import sys

from galmorph.cli._args import add_progress, progress_of, recall_share, split_checkpoint

__all__ = ["add_parser", "run"]


def add_parser(subparsers):
    p = subparsers.add_parser(
        "calibrate",
        help="fit a checkpoint's intervals, merger_prob and out-of-distribution flag",
        description="Predict the labelled galaxies of DATA with MODEL and fit what says how "
                    "far to trust its answers (galmorph.trust): split-conformal intervals on "
                    "the galaxies the model did not train on (its saved validation IDs in the "
                    "folders it trained on, every galaxy of other folders), merger_prob on "
                    "volunteers' Class8.6 >= 0.54, and the out-of-distribution threshold. "
                    "Writes a copy of MODEL that carries the calibration to --out, and prints "
                    "the coverage measured by 2-fold cross-fitting.",
    )
    p.add_argument("paths", metavar="[MODEL] DATA", nargs="+",
                   help="optionally the checkpoint file to calibrate first (ending in .pt; "
                        "default: $GALMORPH_MODEL, the registered default, else the shipped "
                        "model), then labelled data folder(s) (Kaggle or GZ2 layout; labels "
                        "may be partial). Calibrated on GZ2 release labels, merger_prob counts "
                        "mergers as the release's fractions call them")
    p.add_argument("--model", metavar="CHECKPOINT", default=None,
                   help="checkpoint file, instead of giving it first (default: as above)")
    p.add_argument("--out", required=True, metavar="FILE",
                   help="the calibrated checkpoint to write (may be MODEL itself)")
    p.add_argument("--reference", metavar="DIR", default=None,
                   help="a folder of unlabelled images of the real population: the "
                        "out-of-distribution threshold is fitted on a quarter of it so that 2 %% "
                        "are flagged, and the rate is measured on the rest (default: the "
                        "held-out labelled galaxies)")
    p.add_argument("--merger-recall", type=recall_share, default=0.7, metavar="R",
                   help="set is_merger's threshold to find this share of the expected "
                        "mergers of the real population (--reference where given, else the "
                        "held-out galaxies), with as few false flags as that allows "
                        "(default 0.7)")
    p.add_argument("--json", action="store_true",
                   help="print the measured figures as one JSON object (default: a summary)")
    add_progress(p)
    p.set_defaults(func=run)
    return p


def summary_lines(trust):
    """Readable lines of a fitted calibration's measured figures."""
    m = trust.measured
    lines = [f"calibrated on {m['n_held_out']} held-out galaxies "
             f"({m['n_held_out_unselected']} unselected)"]
    for level, cov in m["intervals"].items():
        lines.append(f"  {float(level):.0%} intervals: coverage {cov['all']['coverage']:.3f} "
                     f"(unselected {cov['unselected']['coverage']:.3f}), mean width "
                     f"{cov['all']['width']:.3f}")
    mergers = m.get("mergers", {})
    merger = mergers.get("held_out") or mergers.get("cross_fitted")
    if trust.mergers is not None and trust.mergers.fitted_on.get("flag"):
        flag = trust.mergers.fitted_on["flag"]
        lines.append(f"  is_merger: merger_prob >= {trust.mergers.flag_threshold:.3f}, "
                     f"{flag['rule']} on {flag['population']} (expected precision "
                     f"{flag['expected_precision']:.2f})")
    if merger:
        where = "held-out" if "held_out" in mergers else "2-fold cross-fitted held-out"
        lines.append(f"  is_merger on {where} galaxies: recall {merger['recall']:.2f}, "
                     f"precision {merger['precision']:.2f} ({merger['true_positives']} of "
                     f"{merger['n_mergers']} mergers, {merger['n_flagged']} flagged); sum of "
                     f"merger_prob {merger['sum_merger_prob']:.1f}")
    for what, rate in m.get("ood", {}).items():
        lines.append(f"  flagged out of distribution: {rate['flagged']:.1%} of {rate['n']} "
                     f"({what.replace('_', ' ')})")
    return lines


def run(args):
    import json

    from galmorph._util._io import check_writable
    from galmorph._util._jsonable import jsonable
    from galmorph.trust.fit import calibrate

    model, data = split_checkpoint(args.paths, args.model)
    if not data:
        raise SystemExit("galmorph calibrate: error: give at least one labelled DATA folder")
    check_writable(args.out, "--out")
    trust = calibrate(model, data, reference=args.reference, out=args.out,
                      merger_recall=args.merger_recall, progress=progress_of(args))
    if args.json:
        print(json.dumps(jsonable(trust.measured)))
    else:
        print("\n".join(summary_lines(trust)))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0
