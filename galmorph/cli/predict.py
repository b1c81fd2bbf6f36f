"""``galmorph predict``: the 37 GZ2 vote fractions for image files, to CSV / ECSV / FITS."""
import sys

from galmorph._util._text import count
from galmorph.cli._args import (add_convert, add_device, add_image_dir, add_precision,
                               add_progress, add_trust, progress_of, split_checkpoint, tta_arg,
                               under_image_dir)

__all__ = ["add_parser", "run"]

#: Skipped files listed on stderr before the summary says "and N more".
_SHOW = 10


def add_parser(subparsers):
    p = subparsers.add_parser(
        "predict",
        help="predict the 37 GZ2 vote fractions for image files",
        description="Decode, crop and resize the images named by INPUTS as the checkpoint "
                    "expects, predict their 37 weighted vote fractions and write them to "
                    "--out: .csv in the Kaggle submission format (GalaxyID + Class1.1 ... "
                    "Class11.6), or .ecsv / .fits as an astropy table with units and "
                    "descriptions. Unreadable images are reported and skipped.",
    )
    p.add_argument("inputs", metavar="[CHECKPOINT] INPUTS", nargs="+",
                   help="optionally a checkpoint file first (e.g. runs/gz2/best.pt; default: "
                        "$GALMORPH_MODEL, the registered default, else the shipped model), "
                        "then image folders (e.g. Kaggle's images_test_rev1), glob patterns "
                        "(quote them) or image files (JPEG, PNG, FITS)")
    p.add_argument("--model", metavar="CHECKPOINT", default=None,
                   help="checkpoint file, instead of giving it first (default: as above)")
    p.add_argument("--out", required=True, metavar="FILE",
                   help="output file: .csv (Kaggle submission), .ecsv or .fits")
    p.add_argument("--tta", type=tta_arg, default=None, metavar="none|d8|N",
                   help="test-time augmentation: average over the 8 flips/rotations (d8) or N "
                        "rotations (default: none)")
    p.add_argument("--report", metavar="FILE", default=None,
                   help="also write the skipped files and why (.json, else text) "
                        "(default: none; the summary goes to stderr)")
    p.add_argument("--batch-size", dest="batch_size", type=int, default=256,
                   help="images per forward pass (default: 256)")
    p.add_argument("--workers", type=int, default=None,
                   help="image-decoding processes; 0 decodes in the main process (default: "
                        "CPU count - 1, at most 8; 0 for fewer than 256 files)")
    p.add_argument("--chunk-size", dest="chunk_size", type=int, default=1024,
                   help="files decoded and predicted per step (default: 1024)")
    p.add_argument("--recursive", action="store_true",
                   help="search input folders recursively (default: off)")
    add_image_dir(p, "INPUTS (folders, globs, files)", "the working directory")
    add_device(p)
    add_precision(p)
    add_convert(p)
    add_trust(p)
    add_progress(p)
    p.set_defaults(func=run)
    return p


def run(args):
    import warnings

    from galmorph._util._io import OutputError, OutputWarning, check_writable
    from galmorph.inference.files import predict_files
    from galmorph.trust.columns import TrustOutputs, TrustSettings

    checkpoint, inputs = split_checkpoint(args.inputs, args.model)
    if not inputs:
        raise SystemExit("galmorph predict: error: no INPUTS (image folders, globs or files) "
                         "after the checkpoint")
    inputs = under_image_dir(inputs, args.image_dir)
    check_writable(args.out, "--out")          # before any work, naming the flag
    if args.report:
        check_writable(args.report, "--report")
    with warnings.catch_warnings():
        # The summary below says it better than the library's warnings.
        warnings.filterwarnings("ignore", message=r".*images could not be read")
        warnings.simplefilter("ignore", OutputWarning)
        table = predict_files(checkpoint, inputs, out=args.out,
                              batch_size=args.batch_size, tta=args.tta, device=args.device,
                              precision=args.precision, progress=progress_of(args),
                              workers=args.workers, chunk_size=args.chunk_size,
                              report=args.report, recursive=args.recursive,
                              convert=args.convert, extra_columns=TrustOutputs(
                                  TrustSettings(args.intervals, args.merger_rule)))
    _summary(table, args)
    meta = table.meta
    if meta.get("out_error"):
        # The rows are safe in the fallback; still a failure for scripts to see.
        where = (f"the {len(table)} predictions were saved to {meta['out']} instead"
                 if meta["out"] else "the predictions could not be saved anywhere")
        raise OutputError(f"--out {args.out}: cannot write it ({meta['out_error']}); {where}")
    return 0


def _summary(table, args):
    """What was written and skipped, on stderr."""
    skipped, meta = table.meta["skipped"], table.meta
    if not meta.get("out_error"):
        print(f"wrote {count(len(table), 'prediction')} to {args.out}", file=sys.stderr)
    if meta.get("report_error"):
        where = f"saved to {meta['report']} instead" if meta["report"] else "not saved"
        print(f"galmorph predict: warning: --report {args.report}: cannot write it "
              f"({meta['report_error']}); {where}", file=sys.stderr)
    if skipped:
        print(f"skipped {len(skipped)} of {table.meta['n_images']} images that could not be "
              f"read:", file=sys.stderr)
        for row in skipped[:_SHOW]:
            print(f"  {row['file']}: {row['reason']}", file=sys.stderr)
        if len(skipped) > _SHOW:
            print(f"  ... and {len(skipped) - _SHOW} more", file=sys.stderr)
        if meta.get("report"):
            print(f"full list: {meta['report']}", file=sys.stderr)
