"""``galmorph embed``: each galaxy's embedding, for similarity search and anomalies.

Examples::

    galmorph embed images/ --out emb.parquet
    galmorph embed catalog.ecsv --out emb.fits --tta d8
    galmorph embed --ra 150.1 --dec 2.2 --out one.ecsv
    galmorph embed survey.parquet --scheduler local --out emb_parts/

INPUT is a catalogue (any table astropy reads, with an image-path column or
``ra``/``dec``) or image folders, glob patterns and files. The output keeps the
input's columns (or ``path``) and adds ``embedding`` (float32, N x D, L2-normalised),
``feature_norm``, ``predict_ok``, ``predict_error`` and ``input_note``: Parquet,
ECSV, FITS, or ``.npy`` with the other columns in ``<stem>.ids.ecsv``. With
``--scheduler`` the catalogue is embedded on Dask, one Parquet file per partition,
beside the 37 fractions (one forward pass gives both).
"""
from __future__ import annotations

import sys
from pathlib import Path

from galmorph._util._text import count
from galmorph.cli._args import positive_int
from galmorph.cli._classifier_flags import (CUTOUT_SETTINGS, add_classifier_flags,
                                           settings_from_args)
from galmorph.errors import DataError

__all__ = ["add_parser", "run"]

#: Endings of catalogue files (anything else, and FITS images, are images).
_TABLE_SUFFIXES = (".ecsv", ".csv", ".parquet", ".xml", ".vot", ".votable", ".txt", ".dat")


# The help of the settings' flags where embedding says them otherwise than classifying.
_HELP = {
    "model": "checkpoint (default: $GALMORPH_MODEL, the registered default, else the shipped "
             "model)",
    "tta": "average the features over the 8 flips and quarter turns (d8: the embedding of a "
           "rotated or mirrored copy is then the same, at 8x the time) or N rotations",
}


def add_parser(subparsers):
    p = subparsers.add_parser(
        "embed", help="embed galaxies (images, a catalogue or a position) for similarity "
                      "search and anomalies",
        description="Compute each galaxy's embedding: the model's pooled features, "
                    "L2-normalised (an ensemble's members side by side), with the "
                    "status columns; written to --out for galmorph similar and galmorph "
                    "anomalies.")
    p.add_argument("inputs", nargs="*", metavar="INPUT",
                   help="a catalogue file (ECSV, CSV, Parquet, VOTable, FITS table) with an "
                        "image-path column or ra/dec in degrees; or image folders, glob "
                        "patterns (quoted) or image files; omit it and give --ra/--dec for "
                        "one position")
    p.add_argument("--out", required=True, metavar="FILE",
                   help="output: .parquet, .ecsv, .fits or .npy (+ <stem>.ids.ecsv); with "
                        "--scheduler a folder of Parquet files")
    p.add_argument("--ra", default=None, help="right ascension, degrees or sexagesimal hours "
                   "(default: none)")
    p.add_argument("--dec", default=None, help="declination, degrees or sexagesimal "
                   "(default: none)")
    p.add_argument("--image-column", default=None,
                   help="image-path column of the catalogue (default: auto-detect)")
    p.add_argument("--image-dir", default=None, metavar="DIR",
                   help="folder relative image paths are resolved against (default: the "
                        "catalogue's own folder, then the working directory)")
    p.add_argument("--recursive", action="store_true",
                   help="search image folders recursively (default: off)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS|local",
                   help="embed a Parquet catalogue on a Dask cluster ('local': one worker "
                        "per core here); --out is then a folder (default: none)")
    p.add_argument("--partitions", type=positive_int, default=None, metavar="N",
                   help="with --scheduler: split the catalogue into N partitions (default: "
                        "as stored)")
    add_classifier_flags(p, ("model", "tta", "batch_size", "device", "precision",
                             *CUTOUT_SETTINGS, "convert", "progress"), helps=_HELP)
    p.set_defaults(func=run)
    return p


def _is_catalog(inputs):
    if len(inputs) != 1 or not Path(inputs[0]).is_file():
        return False
    name = inputs[0].lower()
    if name.endswith(_TABLE_SUFFIXES):
        return True
    if name.endswith((".fits", ".fit", ".fits.gz")):  # a FITS table, or a FITS image?
        from astropy.io import fits

        with fits.open(inputs[0]) as hdus:
            return any(isinstance(h, (fits.BinTableHDU, fits.TableHDU)) for h in hdus)
    return False


def _input(args):
    """What the classifier embeds: a table, a position, or the image files."""
    from galmorph.astro.io import read_catalog, sky_position

    if (args.ra is None) != (args.dec is None):
        raise DataError("give both --ra and --dec")
    if args.ra is not None:
        if args.inputs:
            raise DataError("give INPUT or --ra/--dec, not both")
        from astropy.table import Table

        c = sky_position(args.ra, args.dec, names=("--ra", "--dec"))
        return Table({"ra": [c.icrs.ra.deg], "dec": [c.icrs.dec.deg]}), None
    if not args.inputs:
        raise DataError("give INPUT (a catalogue, image folders or files) or --ra/--dec")
    if _is_catalog(args.inputs):
        catalog = Path(args.inputs[0]).expanduser().resolve()
        dirs = [args.image_dir] if args.image_dir else [str(catalog.parent), str(Path.cwd())]
        return read_catalog(args.inputs[0]), dirs
    from galmorph.data.catalogs import find_images

    inputs = args.inputs if args.image_dir is None else [
        str(Path(args.image_dir) / p) for p in args.inputs]
    return [str(p) for p in find_images(inputs, recursive=args.recursive)], None


def run(args):
    from galmorph._util._io import check_writable

    if args.scheduler is not None or args.partitions is not None:
        return _run_on_cluster(args)
    check_writable(args.out, "--out")           # before any work, naming the flag
    from galmorph.adapt.embeddings import embedding_format, write_embeddings
    from galmorph.astro.classifier import MorphologyClassifier

    embedding_format(args.out, "write")           # a known ending, before any work
    x, dirs = _input(args)
    clf = MorphologyClassifier(**settings_from_args(args).as_kwargs())
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*rows could not be classified")
        table = clf.embed(x, image_column=args.image_column, image_dir=dirs)
    write_embeddings(table, args.out)
    failed = int((~table["predict_ok"]).sum())
    print(f"wrote {count(len(table), 'embedding')} (D = {table['embedding'].shape[1]}) to "
          f"{args.out}", file=sys.stderr)
    if failed:
        first = next(str(e) for e in table["predict_error"] if str(e))
        print(f"{count(failed, 'row')} failed (NaN embedding; see predict_error); first: "
              f"{first}", file=sys.stderr)
    return 0 if failed < len(table) else 1


def _run_on_cluster(args):
    """``--scheduler``: :func:`galmorph.workflows.survey.run_survey` with ``embedding``."""
    from galmorph.workflows.survey import run_survey

    if args.scheduler is None:
        raise DataError("--partitions needs --scheduler ADDRESS|local")
    if len(args.inputs) != 1 or args.ra is not None:
        raise DataError("--scheduler needs one catalogue file (Parquet or HATS) and --out "
                        "FOLDER/")
    catalog = Path(args.inputs[0]).expanduser().resolve()
    image_dir = args.image_dir or [str(catalog.parent), str(Path.cwd())]
    settings = settings_from_args(args, embedding=True)
    report = run_survey(str(catalog), args.scheduler, args.out, partitions=args.partitions,
                        image_column=args.image_column, image_dir=image_dir,
                        **settings.as_kwargs(skip=("progress",)))
    return 0 if report.ok else 1
