"""Astronomy-facing tools: catalogs, SDSS cutouts, the classifier and science diagnostics.

- `galmorph.astro.catalog`: the GZ2 main-sample cuts (`gz2_selection`) and SDSS queries.
- `galmorph.astro.cutouts`: GZ2-style SDSS colour cutouts by RA/Dec (`fetch_cutouts`).
- `galmorph.astro.classifier`: `MorphologyClassifier`.
- `galmorph.astro.mergers`, `galmorph.astro.redshift`: merger and redshift-bias diagnostics.

The sub-modules are imported on use, so that importing this package stays cheap.
"""
__all__ = []
