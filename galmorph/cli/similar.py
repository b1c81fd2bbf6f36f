"""``galmorph similar``: the galaxies most like a query, as a table and a thumbnail grid.

Examples::

    galmorph similar 587722981741363294 --embeddings emb.parquet -k 10 --out similar/
    galmorph similar my_galaxy.jpg --embeddings emb.parquet --out similar/
    galmorph similar --ra 150.1 --dec 2.2 --embeddings emb.parquet --out similar/

The query is a row ID of the embedding file (an ID column such as ``objid``, or an
image's file name), an image file (embedded with the file's model, TTA and
precision), or a position (--ra/--dec, matched to the file's ra/dec). ``--out`` gets
``similar.ecsv`` (rank, cosine distance and the galaxies' columns) and
``similar.png`` (the query, then its neighbours, each with its distance).
"""
from __future__ import annotations

import sys

from galmorph.cli._args import positive_int
from galmorph.errors import DataError

__all__ = ["add_parser", "run"]


def add_parser(subparsers):
    p = subparsers.add_parser(
        "similar", help="find the galaxies most like a query in an embedding file",
        description="Find the k galaxies whose embeddings (galmorph embed) are nearest the "
                    "query's by cosine distance; write them as a table and a grid of "
                    "thumbnails.")
    p.add_argument("query", nargs="?", default=None,
                   help="a row ID of the embedding file (its ID column, or an image's file "
                        "name) or an image file; omit it and give --ra/--dec for a position")
    p.add_argument("--embeddings", required=True, metavar="FILE",
                   help="embedding file written by galmorph embed (.parquet, .ecsv, .fits, "
                        ".npy, or a folder of Parquet files)")
    p.add_argument("-k", type=positive_int, default=10,
                   help="how many similar galaxies (default: 10)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="folder for similar.ecsv and similar.png (made if need be)")
    p.add_argument("--ra", default=None, help="query position: right ascension, degrees or "
                   "sexagesimal hours (default: none)")
    p.add_argument("--dec", default=None, help="query position: declination (default: none)")
    p.add_argument("--max-sep", type=float, default=2.0, metavar="ARCSEC",
                   help="largest separation of --ra/--dec from a galaxy of the file, arcsec "
                        "(default: 2)")
    p.add_argument("--id-column", default=None,
                   help="the file's ID column (default: the first of id, objid, dr7objid, "
                        "GalaxyID, ..., else the image file names)")
    p.add_argument("--image-dir", default=None, metavar="DIR",
                   help="folder of the file's relative image paths, for the thumbnails "
                        "(default: beside the embedding file, then the working directory)")
    p.add_argument("--model", default=None,
                   help="for an image query: the checkpoint, where the file's model is not "
                        "on this machine (default: the file's model)")
    p.set_defaults(func=run)
    return p


def run(args):
    from pathlib import Path

    from galmorph.workflows.gallery import similar_gallery

    if (args.ra is None) != (args.dec is None):
        raise DataError("give both --ra and --dec")
    if (args.query is None) == (args.ra is None):
        raise DataError("give a QUERY (row ID or image file) or --ra/--dec, one of them")
    query = args.query
    if args.ra is not None:
        from galmorph.astro.io import sky_position

        query = sky_position(args.ra, args.dec, names=("--ra", "--dec"))
    elif Path(query).is_file():
        query = Path(query)
    result, png = similar_gallery(args.embeddings, query, args.out, k=args.k,
                                  id_column=args.id_column, image_dir=args.image_dir,
                                  model=args.model, max_separation=args.max_sep)
    print(_lines(result))
    print(f"wrote {Path(args.out) / 'similar.ecsv'} and {png}", file=sys.stderr)
    return 0


def _lines(result):
    """The result as text: rank, distance and the first identifying columns."""
    keep = [c for c in result.colnames if c not in ("predict_ok", "predict_error", "input_note",
                                                   "feature_norm")][:5]
    return "\n".join(result[keep].pformat(max_lines=-1, max_width=-1))
