"""
Classify a catalogue: mergers and redshift trends
=================================================

Classify every galaxy of a catalogue with the shipped model (or any checkpoint), then
print the merger fraction, the merger threshold scan and, where the catalogue has a
redshift, the redshift trends and their bias flags.

Usage::

    python examples/classify_catalog.py catalog.ecsv --model runs/gz2/best.pt \\
        --separations --out result.ecsv --plot trends.png

``catalog.ecsv`` is any table astropy reads with ``ra``/``dec`` (degrees;
cutouts are fetched from SDSS) or an image-path column, optionally
``petroR90_r`` (arcsec), ``z`` and ``petroMag_r``. Without a catalogue the
script classifies the 24 Galaxy Zoo 2 galaxies that ship with galmorph
(offline), as below.
"""
import argparse

from astropy.table import Table

from galmorph import MorphologyClassifier
from galmorph.data.examples import EXAMPLES_DIR, example_galaxies
from galmorph.astro.merger_threshold import propose_merger_threshold
from galmorph.astro.mergers import merger_fraction, merger_threshold_scan, separation_bias
from galmorph.astro.redshift import redshift_bias_flags, redshift_trends
from galmorph.plots import plot_redshift_trends

def parse_args():
    p = argparse.ArgumentParser(description="Classify a catalogue and look at its mergers "
                                            "and redshift trends.")
    p.add_argument("catalog", nargs="?", default=None,
                   help="catalogue file (default: the 24 example galaxies shipped with galmorph)")
    p.add_argument("--model", default=None, help="checkpoint (default: the registered model)")
    p.add_argument("--device", default="auto", help="'auto', 'cpu' or 'cuda' (default: auto)")
    p.add_argument("--separations", action="store_true",
                   help="measure nearest-neighbour separations (default: off)")
    p.add_argument("--out", default=None, help="write the result table (default: none)")
    p.add_argument("--plot", default=None, help="save the redshift-trend plot (default: none)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    return p.parse_args()


def demo_catalog():
    """asset_id + image path of the 24 GZ2 galaxies shipped with galmorph."""
    examples = example_galaxies()
    return Table({"asset_id": examples["asset_id"],
                  "path": [str(EXAMPLES_DIR / name) for name in examples["file"]]})


def main():
    args = parse_args()
    cat = Table.read(args.catalog) if args.catalog else demo_catalog()
    clf = MorphologyClassifier(args.model, device=args.device)
    result = clf.predict(cat, separations=args.separations)
    print(f"{int(result['predict_ok'].sum())} of {len(result)} galaxies classified with "
          f"{result.meta['model_name']} ({result.meta['model_path']})")

    print(merger_fraction(result, seed=args.seed))
    print(merger_threshold_scan(result, thresholds=[0.2, 0.3, 0.4, 0.54, 0.7], seed=args.seed))
    if args.separations:
        print(separation_bias(result, seed=args.seed))
        proposal = propose_merger_threshold(result)
        print(f"proposed threshold {proposal.threshold:g}: {proposal.rule}")

    if "redshift_trends" in result.meta:
        trends = redshift_trends(result, seed=args.seed)
        print(trends)
        for msg in redshift_bias_flags(trends)["messages"]:
            print("redshift bias:", msg)
        if args.plot:
            import matplotlib
            matplotlib.use("Agg")
            plot_redshift_trends(trends).figure.savefig(args.plot, dpi=120)
            print(f"wrote {args.plot}")
    if args.out:
        result.write(args.out, overwrite=True)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
