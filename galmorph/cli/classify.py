"""``galmorph classify``: morphology of a sky position or of a whole catalogue.

Examples::

    galmorph classify --ra 150.1 --dec 2.2
    galmorph classify --ra 10:00:24 --dec +02:12:00 --petro-r90 8.5 --out one.ecsv
    galmorph classify catalog.ecsv --out result.ecsv --report failed.json
    galmorph classify catalog.ecsv --intervals 0.9 --merger-rule paper --out result.ecsv

A catalogue is any table astropy reads (ECSV, FITS, VOTable, CSV, ...) with
``ra``/``dec`` columns in degrees (or an image-path column); the result keeps
its columns and adds the 37 fractions (with ``--intervals``, their ``_lo`` and
``_hi`` bounds), ``p_merger``, ``merger_prob``, ``is_merger``, ``ood_score``,
``is_ood``, ``predict_ok``, ``predict_error`` and ``input_note``, as
``galmorph predict`` and the Dask path (``--scheduler``) write them. A row that
failed has masked values (``is_merger`` too: it is not a non-merger); the
summary says which merger rule set ``is_merger`` (``--merger-rule``), the merger
fraction from ``merger_prob`` with its interval and by the paper's rule, and the
rows flagged out of distribution. Relative image paths are looked up beside
the catalogue, then in the working directory (``--image-dir DIR`` names the
folder instead); a row with an empty path and ``ra``/``dec`` gets a cutout. ``--out`` and ``--report`` are checked
for writing before any cutout is fetched; if ``--out`` still fails at the end,
the rows are saved to a file in the system temporary folder, named on stderr.

The classifier's flags are built from :class:`~galmorph.astro.settings.ClassifierSettings`
(:mod:`galmorph.cli._classifier_flags`); reading, writing and the summaries are
:mod:`galmorph.astro.io` and :mod:`galmorph.astro.summary`, which scripts can use too.
"""
from __future__ import annotations

import sys
from pathlib import Path

from galmorph._util._io import check_writable
from galmorph._util._text import count
from galmorph.cli._args import add_image_dir, positive_int
from galmorph.cli._classifier_flags import (CUTOUT_SETTINGS, add_classifier_flags,
                                           settings_from_args)
from galmorph.errors import DataError

__all__ = ["add_parser", "run"]

#: The classifier's settings that are flags here, in the order --help lists them.
_SETTINGS = ("model", "merger_threshold", "tta", "device", "precision", "batch_size",
             *CUTOUT_SETTINGS, "convert", "intervals", "merger_rule", "progress")


def add_parser(subparsers):
    p = subparsers.add_parser(
        "classify", help="classify a sky position (--ra/--dec) or a catalogue of positions",
        description="Fetch SDSS cutouts by RA/Dec (or read the images a catalogue names) and "
                    "predict the 37 Galaxy Zoo 2 vote fractions and merger flags.")
    p.add_argument("catalog", nargs="?", default=None,
                   help="catalogue file astropy can read (ra/dec in degrees, or an image-path "
                        "column); omit it and give --ra/--dec for one position")
    p.add_argument("--ra", default=None,
                   help="right ascension: degrees, or sexagesimal hours (10:00:24 or 10h00m24s) "
                        "(default: none; give it with --dec, or a catalogue)")
    p.add_argument("--dec", default=None,
                   help="declination: degrees or sexagesimal (+02:12:00) (default: none)")
    p.add_argument("--petro-r90", type=float, default=None,
                   help="petroR90_r of the galaxy in arcsec, for the GZ2 image scale "
                        "(default: none, the native 0.396 arcsec/pixel)")
    p.add_argument("--out", default=None,
                   help="write the result table here; format from the extension "
                        "(.ecsv keeps the metadata; .fits, .csv, .xml for VOTable; default: "
                        "print only)")
    p.add_argument("--report", metavar="FILE", default=None,
                   help="also write the rows that could not be classified and why (.json, "
                        "else text; the format of galmorph predict --report) (default: none)")
    p.add_argument("--image-column", default=None,
                   help="image-path column of the catalogue (default: auto-detect "
                        "path/file/filename/image)")
    add_image_dir(p, "image paths of the catalogue",
                  "the catalogue's own folder, then the working directory")
    p.add_argument("--separations", action="store_true",
                   help="also measure the nearest projected neighbour (sep_* columns)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS|local",
                   help="classify a Parquet (or HATS) catalogue on a Dask cluster: the "
                        "scheduler's address (tcp://HOST:8786), or 'local' for one worker "
                        "process per core here; --out is then a folder of one Parquet file "
                        "per partition, and a rerun skips the partitions done (default: "
                        "none, one process; needs pip install \"galmorph-gz2[dask]\")")
    p.add_argument("--partitions", type=positive_int, default=None, metavar="N",
                   help="with --scheduler: split the catalogue into N partitions (default: "
                        "as stored, one per Parquet row group or file)")
    add_classifier_flags(p, _SETTINGS)
    p.set_defaults(func=run)
    return p


def run(args):
    from galmorph.astro.classifier import MorphologyClassifier
    from galmorph.astro.io import read_catalog, sky_position, write_result
    from galmorph.astro.summary import catalog_summary, position_summary

    if args.catalog is None and (args.ra is None or args.dec is None):
        raise DataError("give a catalogue file, or both --ra and --dec")
    if args.catalog is not None and (args.ra is not None or args.dec is not None):
        raise DataError("give either a catalogue file or --ra/--dec, not both")
    settings = settings_from_args(args)
    if args.scheduler is not None or args.partitions is not None:
        return _run_on_cluster(args, settings)
    _check_outputs(args)  # before any cutout is fetched
    clf = MorphologyClassifier(**settings.as_kwargs())
    if args.catalog is None:
        from astropy.table import Table

        c = sky_position(args.ra, args.dec, names=("--ra", "--dec"))
        x = Table({"ra": [c.icrs.ra.deg], "dec": [c.icrs.dec.deg]})
        x["ra"].unit = x["dec"].unit = "deg"
        if args.petro_r90 is not None:
            x["petroR90_r"] = [args.petro_r90]
    else:
        x = read_catalog(args.catalog)
    result = clf.predict(x, image_column=args.image_column, image_dir=_image_dirs(args),
                         separations=args.separations)
    if len(result) == 1:
        print("\n".join(position_summary(result[0], result.meta)))
    else:
        print("\n".join(catalog_summary(result)))
    if args.report:
        _report(result, args.report, args.image_column)
    if args.out:
        write_result(result, args.out, flag="--out")
        print(f"wrote {count(len(result), 'row')} to {args.out}")
    elif len(result) > 1:
        print("(use --out FILE to save the table)")
    return 0 if result["predict_ok"].any() else 1


def _run_on_cluster(args, settings):
    """``--scheduler``: the catalogue on a Dask cluster, one Parquet file per partition in
    the folder ``--out`` (:func:`galmorph.workflows.survey.run_survey`), with the same
    classifier settings (workers draw no progress bars)."""
    from galmorph.workflows.survey import run_survey

    if args.scheduler is None:
        raise DataError("--partitions needs --scheduler ADDRESS|local")
    if args.catalog is None or not args.out:
        raise DataError("--scheduler needs a catalogue file and --out FOLDER/")
    for flag, given in (("--separations", args.separations), ("--report", args.report)):
        if given:
            raise DataError(f"{flag} is not available with --scheduler; failed rows keep "
                            f"their reason in the predict_error column of --out's files")
    report = run_survey(args.catalog, args.scheduler, args.out, partitions=args.partitions,
                        image_column=args.image_column, image_dir=_image_dirs(args),
                        **settings.as_kwargs(skip=("progress",)))
    return 0 if report.ok else 1


def _image_dirs(args):
    """Where relative image paths of the catalogue are looked up: ``--image-dir``, else the
    catalogue's own folder (a catalogue beside its images), then the working directory.
    Absolute, so that Dask workers elsewhere look in the same places."""
    if args.image_dir is not None:
        return str(Path(args.image_dir).expanduser().resolve())
    if args.catalog is None:
        return None
    return [str(Path(args.catalog).expanduser().resolve().parent), str(Path.cwd())]


def _check_outputs(args):
    """--out and --report must be writable before the work (one line naming the flag)."""
    if args.out:
        check_writable(args.out, "--out")
    if args.report:
        check_writable(args.report, "--report")


def _report(result, report, image_column):
    from galmorph._util._io import save_with_fallback, write_skip_report
    from galmorph.astro.io import failed_rows

    rows = failed_rows(result, image_column)
    path, reason = save_with_fallback(
        lambda p: write_skip_report(p, rows, len(result), noun="rows"), report)
    if reason is not None:
        where = f"saved to {path} instead" if path is not None else "not saved"
        print(f"galmorph classify: warning: --report {report}: cannot write it ({reason}); "
              f"{where}", file=sys.stderr)
    elif rows:
        print(f"{count(len(rows), 'failed row')} and why: {report}")


_MOVED = {"position_summary": "galmorph.astro.summary",
          "report_rows": "galmorph.astro.io (as failed_rows)"}


def __getattr__(name):
    """The summaries and the failed rows moved to the library (deprecated here, still working)."""
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import warnings

    warnings.warn(f"galmorph.cli.classify.{name} moved to {_MOVED[name]}; import it from there",
                  DeprecationWarning, stacklevel=2)
    if name == "report_rows":
        from galmorph.astro.io import failed_rows

        return failed_rows
    from galmorph.astro.summary import position_summary

    return position_summary
