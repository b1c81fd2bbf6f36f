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
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from galmorph._util._io import OutputError, check_writable
from galmorph._util._text import count
from galmorph.cli._args import (add_convert, add_device, add_image_dir, add_precision, add_progress,
                               add_trust, positive_int, progress_of, tta_arg)
from galmorph.cli._classify_summary import catalog_summary, position_summary
from galmorph.errors import DataError

__all__ = ["add_parser", "run", "position_summary", "report_rows"]


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
    p.add_argument("--model", default=None,
                   help="checkpoint (default: $GALMORPH_MODEL, else the registered default)")
    p.add_argument("--out", default=None,
                   help="write the result table here; format from the extension "
                        "(.ecsv keeps the metadata; .fits, .csv, .xml for VOTable; default: "
                        "print only)")
    p.add_argument("--report", metavar="FILE", default=None,
                   help="also write the rows that could not be classified and why (.json, "
                        "else text; the format of galmorph predict --report) (default: none)")
    from galmorph.schema import PAPER_MERGER_THRESHOLD as DEFAULT_THRESHOLD

    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                   help=f"the paper's merger threshold on p_merger = Class8.6, for "
                        f"--merger-rule paper and the paper-rule count (default: "
                        f"{DEFAULT_THRESHOLD})")
    p.add_argument("--tta", type=tta_arg, default=None, metavar="none|d8|N",
                   help="test-time augmentation: 'd8' or a number of rotations (default: none)")
    add_device(p)
    add_precision(p)
    p.add_argument("--batch-size", type=int, default=256, help="images per batch (default: 256)")
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
    _add_cutout_flags(p)
    add_convert(p)
    add_trust(p)
    add_progress(p)
    p.set_defaults(func=run)
    return p


def _add_cutout_flags(p):
    """The flags of the SDSS cutout service: which one, its cache, time-outs and retries."""
    from galmorph._util._choices import CUTOUT_BACKENDS

    p.add_argument("--backend", choices=CUTOUT_BACKENDS, default="hips2fits",
                   help="cutout service (default: hips2fits)")
    p.add_argument("--cache-dir", default=None,
                   help="cutout cache folder (default: the galmorph user cache)")
    p.add_argument("--timeout", type=_positive_float, default=30.0, metavar="SECONDS",
                   help="time limit of each cutout request, seconds (default: 30)")
    p.add_argument("--retries", type=_retries_arg, default=3, metavar="N",
                   help="further attempts at a cutout after a time-out, HTTP 5xx or dropped "
                        "connection (default: 3); a host that does not resolve or refuses "
                        "the connection is not retried and fails the remaining rows at once")
    p.add_argument("--workers", type=positive_int, default=1, metavar="N",
                   help="cutouts fetched at the same time (default: 1; 4-8 speed up "
                        "large catalogues)")


def _positive_float(text):
    """argparse type of ``--timeout``: a number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text!r}")
    return value


def _retries_arg(text):
    """argparse type of ``--retries``: an integer >= 0."""
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, not {text!r}")
    return int(text)


def _coord(ra, dec):
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    try:
        return SkyCoord(float(ra), float(dec), unit="deg")
    except ValueError:
        pass
    try:
        return SkyCoord(ra, dec, unit=(u.hourangle, u.deg))
    except ValueError as exc:
        raise DataError(f"cannot read --ra {ra!r} --dec {dec!r} as a position ({exc}); give "
                        f"degrees (150.1 2.2) or sexagesimal (10:00:24 +02:12:00)") from None


def _read_catalog(path):
    from astropy.table import Table

    path = Path(path)
    if not path.is_file():
        raise DataError(f"catalogue {path} does not exist")
    try:
        return Table.read(path)
    except Exception as exc:  # astropy raises many types for unreadable tables
        try:
            return Table.read(path, format="ascii")
        except Exception:
            raise DataError(f"cannot read catalogue {path}: {exc}. Give a table astropy can "
                            f"read (ECSV, FITS, VOTable, CSV)") from None


def run(args):
    from galmorph.astro.classifier import MorphologyClassifier

    if args.catalog is None and (args.ra is None or args.dec is None):
        raise DataError("give a catalogue file, or both --ra and --dec")
    if args.catalog is not None and (args.ra is not None or args.dec is not None):
        raise DataError("give either a catalogue file or --ra/--dec, not both")
    if args.scheduler is not None or args.partitions is not None:
        return _run_on_cluster(args)
    _check_outputs(args)  # before any cutout is fetched
    clf = MorphologyClassifier(model=args.model, device=args.device, tta=args.tta,
                               merger_threshold=args.threshold, batch_size=args.batch_size,
                               backend=args.backend, cache_dir=args.cache_dir,
                               progress=progress_of(args), precision=args.precision,
                               timeout=args.timeout, retries=args.retries, workers=args.workers,
                               convert=args.convert, intervals=args.intervals,
                               merger_rule=args.merger_rule)
    if args.catalog is None:
        from astropy.table import Table

        c = _coord(args.ra, args.dec)
        x = Table({"ra": [c.icrs.ra.deg], "dec": [c.icrs.dec.deg]})
        x["ra"].unit = x["dec"].unit = "deg"
        if args.petro_r90 is not None:
            x["petroR90_r"] = [args.petro_r90]
    else:
        x = _read_catalog(args.catalog)
    result = clf.predict(x, image_column=args.image_column, image_dir=_image_dirs(args),
                         separations=args.separations)
    if len(result) == 1:
        print("\n".join(position_summary(result[0], result.meta)))
    else:
        print("\n".join(catalog_summary(result)))
    if args.report:
        _report(result, args.report, args.image_column)
    if args.out:
        _write(result, args.out)
        print(f"wrote {count(len(result), 'row')} to {args.out}")
    elif len(result) > 1:
        print("(use --out FILE to save the table)")
    return 0 if result["predict_ok"].any() else 1


def _run_on_cluster(args):
    """``--scheduler``: the catalogue on a Dask cluster, one Parquet file per partition in
    the folder ``--out`` (:func:`galmorph.workflows.survey.run_survey`)."""
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
                        model=args.model, image_column=args.image_column,
                        image_dir=_image_dirs(args), device=args.device,
                        precision=args.precision, tta=args.tta,
                        merger_threshold=args.threshold, batch_size=args.batch_size,
                        backend=args.backend, cache_dir=args.cache_dir, timeout=args.timeout,
                        retries=args.retries, workers=args.workers, convert=args.convert,
                        intervals=args.intervals, merger_rule=args.merger_rule)
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


def _write(result, out):
    """Write the result atomically. If that fails, save the rows as ECSV -- beside ``out``
    when only the format failed, else (or if that fails too) in the temporary folder --
    and raise an OutputError naming the copy: the finished rows are never lost."""
    from galmorph._util._io import describe_error, fallback_path, write_table_atomic

    try:
        write_table_atomic(result, out)
        return
    except Exception as exc:  # disk full, folder gone, a format astropy cannot write, ...
        reason, hint = describe_error(exc), ""
        beside = [] if isinstance(exc, OSError) else [Path(f"{out}.ecsv")]
    if beside:
        hint = ". Use an extension astropy writes: .ecsv, .fits, .csv, .xml (VOTable)"
    for rescue in beside + [None]:
        try:
            rescue = rescue or fallback_path(Path(out).stem + ".ecsv")
            write_table_atomic(result, rescue, format="ascii.ecsv")
            break
        except OSError as exc:
            failed = describe_error(exc)
    else:
        raise OutputError(f"--out {out}: cannot write it ({reason}); the classified rows "
                          f"could not be saved in the temporary folder either ({failed})")
    raise OutputError(f"--out {out}: cannot write it ({reason}); the {len(result)} classified "
                      f"rows were saved to {rescue} instead{hint}")


def report_rows(result, image_column=None):
    """The rows of a classified table that failed, as :func:`~galmorph._util._io.write_skip_report`
    rows: ``{"row", "file" or "ra"/"dec", "reason"}``."""
    import numpy as np

    from galmorph.astro._classify_inputs import PATH_NAMES

    names = [image_column] if image_column else [n for n in PATH_NAMES if n in result.colnames]
    column = next((n for n in names if n in result.colnames), None)
    rows = []
    for i in np.flatnonzero(~np.asarray(result["predict_ok"])):
        row = {"row": int(i)}
        if column is not None:
            row["file"] = str(result[column][i])
        for key in ("ra", "dec"):
            if key in result.colnames:
                row[key] = float(result[key][i])
        reason = str(result["predict_error"][i])
        row["reason"] = reason.split(": ", 1)[1] if reason.startswith("row ") else reason
        rows.append(row)
    return rows


def _report(result, report, image_column):
    from galmorph._util._io import save_with_fallback, write_skip_report

    rows = report_rows(result, image_column)
    path, reason = save_with_fallback(
        lambda p: write_skip_report(p, rows, len(result), noun="rows"), report)
    if reason is not None:
        where = f"saved to {path} instead" if path is not None else "not saved"
        print(f"galmorph classify: warning: --report {report}: cannot write it ({reason}); "
              f"{where}", file=sys.stderr)
    elif rows:
        print(f"{count(len(rows), 'failed row')} and why: {report}")
