"""Private helpers shared across the package, one small module each (as photutils' ``utils/_*``).

- :mod:`._jsonable`: ``jsonable`` -- any nested result -> plain JSON data; ``plain`` -- one
  NumPy scalar (a galaxy ID) -> its Python value;
- :mod:`._workers`: ``usable_cores`` and ``default_workers`` -- the one worker-count rule
  (``reserve`` keeps cores for the calling process);
- :mod:`._tables`: ``find_column`` -- a table column by candidate names, case-insensitive;
- :mod:`._text`: ``count`` -- "1 row", "2 rows";
- :mod:`._warnings`: ``caller_stacklevel`` -- a warning names the user's line, not galmorph's;
- :mod:`._io`: checking that an output can be written, the temp-folder fallback, the one
  skip-report writer and atomic table writes;
- :mod:`._progress`: ``progress_bar`` -- the one progress bar (once per final state in logs);
- :mod:`._lazy`: ``lazy_exports`` -- a subpackage namespace imported on first use;
- :mod:`._choices`, :mod:`._precisions`: the CLI's choice lists, torch- and astropy-free;
- :mod:`._atomic`: atomic file writes (checkpoints, configs, metadata, tables);
- :mod:`._stats`: the bootstrap and binomial intervals shared by metrics, mergers and
  redshift tables.

Everything may import these; they import only each other and ``errors``.
"""
