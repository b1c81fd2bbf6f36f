"""MorphologyClassifier: Galaxy Zoo 2 morphology for tables, sky positions and images.

The astronomer's entry point::

    >>> from galmorph import MorphologyClassifier
    >>> clf = MorphologyClassifier()                       # doctest: +SKIP
    >>> result = clf.predict(catalog)   # Table with ra, dec  # doctest: +SKIP
    >>> result["p_merger", "is_merger"]                     # doctest: +SKIP

``predict`` streams its input in chunks (cutouts or images of one chunk are
held at a time), so a 100,000-row catalogue needs memory for one chunk plus
the (N, 37) result. Per-row failures (no cutout, an unreadable image, NaN or
out-of-range coordinates) are kept in the output -- ``predict_ok`` False,
``predict_error`` saying why, NaN fractions -- so one bad row never loses the
others. Structural problems (no coordinate or image column, an empty table,
unit-less coordinates that look like radians, a checkpoint for another GZ2
schema) raise :class:`~galmorph.errors.DataError` or :class:`~galmorph.errors.CheckpointError`.
"""
from __future__ import annotations

import itertools
import warnings

import numpy as np
from astropy import units as u
from astropy.table import Table

from galmorph import __version__, schema
from galmorph._util._warnings import caller_stacklevel
from galmorph.astro._classify_embed import add_embedding_column, chunk_embedding, embed_table
from galmorph.astro._classify_inputs import parse_input
from galmorph.astro._classify_images import (block_images, count_rows, file_decoder,
                                            project_separations, submit)
from galmorph.astro.redshift import record_diagnostics_error, record_redshift_trends
from galmorph.astro.separation import find_nearest_neighbour
from galmorph.astro.settings import ClassifierSettings
from galmorph.data.images import INPUT_NOTE_DESCRIPTION, crop_and_resize
from galmorph.errors import CheckpointError, DataError, ModelShapeError
from galmorph.inference.heads import add_label_columns, head_values, label_heads
from galmorph.models import DEFAULT_PREPROCESSING   # re-exported here; defined in the registry
from galmorph.trust import TrustColumns, empty_trust, trust_columns
from galmorph.trust.columns import TrustSettings, add_trust_columns, interval_columns, ood_notes

__all__ = ["MorphologyClassifier", "DEFAULT_PREPROCESSING", "OUTPUT_COLUMNS"]

#: Columns ``predict`` adds after the 37 fractions (and their intervals, when asked).
OUTPUT_COLUMNS = ("p_merger", "merger_prob", "is_merger", "ood_score", "is_ood", "predict_ok",
                  "predict_error", "input_note")

_SEP_COLUMNS = ("sep_px", "sep_r90", "sep_arcsec", "sep_kpc", "n_sources")
_NEIGHBOUR = "separation to the nearest neighbour detected in the full-resolution image"
#: (unit, description) of each ``separations=True`` column.
_SEP_META = {
    "sep_px": (u.pix, f"projected {_NEIGHBOUR}, pixels (inf: none detected; NaN: not measured)"),
    "sep_r90": (u.dimensionless_unscaled, f"projected {_NEIGHBOUR}, in petroR90_r units"),
    "sep_arcsec": (u.arcsec, f"angular {_NEIGHBOUR} (NaN where the pixel scale is unknown)"),
    "sep_kpc": (u.kpc, f"proper {_NEIGHBOUR} at the row's redshift (NaN without one)"),
    "n_sources": (u.dimensionless_unscaled, "sources detected in the full-resolution image, "
                  "the galaxy included (-1: not measured)"),
}
_BLOCK = 64  # full-resolution images held at a time (64 x 424 x 424 x 3 = 35 MB)


class MorphologyClassifier:
    """Predict the 37 GZ2 vote fractions and merger flags.

    The constructor only stores its arguments; the model is loaded on first
    use into ``model_`` (with ``preprocessing_`` and ``model_info_``). The arguments are
    the fields of :class:`~galmorph.astro.settings.ClassifierSettings` (the same order
    and defaults); :attr:`settings` gives them back as one.

    Parameters
    ----------
    model : str, path, Checkpoint, torch.nn.Module or None
        A checkpoint path, a loaded :class:`~galmorph.models.checkpoint.Checkpoint`
        or a galmorph model. ``None`` uses ``$GALMORPH_MODEL``, else the model
        registered with ``galmorph train --set-default``.
    device : str
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ...
    tta : None, "d8" or int
        Test-time augmentation (see :func:`galmorph.inference.engine.predict_arrays`).
    merger_threshold : float
        The paper's rule (``merger_rule="paper"``): ``p_merger >= merger_threshold`` (0.54).
    batch_size : int
        Images per forward pass.
    backend : {"hips2fits", "sdss"}
        Cutout service for RA/Dec input.
    cache_dir : path or None
        Cutout cache (default the galmorph user cache; ``False`` disables it).
    progress : bool
        Show a tqdm progress bar.
    chunk_size : int
        Rows read, fetched and predicted at a time (bounds memory).
    precision : str
        ``"auto"``, ``"bf16"``, ``"fp16"``, ``"fp32"`` or ``"int8"`` (CPU only;
        see :mod:`galmorph.inference.quantize`).
    timeout : float
        Time limit of each cutout request, seconds (default 30).
    retries : int
        Further attempts at a cutout after a time-out, an HTTP 5xx or a connection
        dropped mid-download (default 3). A host name that does not resolve or a
        refused connection is not retried: the rows after it fail at once, "not tried"
        (see :func:`~galmorph.astro.cutouts.fetch_cutouts`).
    workers : int
        Cutouts fetched at the same time, threads (default 1, the gentlest on the
        services; 4-8 speed up large catalogues).
    convert : {"flag", "refuse"}
        Image files that are not g, r, i colour (greyscale, RGBA, one-band FITS):
        convert them by :mod:`galmorph.data.images`' colour rules and say so in the
        row's ``input_note`` (default), or fail the row with the reason.
    intervals : float or None
        Nominal coverage (such as 0.9) of an interval for each answer, in columns
        ``<answer>_lo``, ``<answer>_hi`` (:mod:`galmorph.trust.intervals`); None: none.
    merger_rule : {"prob", "paper"}
        ``is_merger`` is ``merger_prob >= `` the model's stored flag threshold
        (``"prob"``, default; :mod:`galmorph.trust.merger_calibration`), or the paper's
        ``p_merger >= merger_threshold`` (``"paper"``). A model without a merger
        calibration uses the paper's rule, and ``meta["merger_rule"]`` says so.
    embedding : bool
        ``predict`` also writes each row's ``embedding`` (N, D), from the same forward
        pass (:meth:`embed`, :doc:`/embeddings`); default False.
    """

    def __init__(self, *args, **kwargs):
        # The arguments, their order and defaults are the fields of ClassifierSettings
        # (defined once, galmorph.astro.settings); stored as given, checked where used.
        settings = ClassifierSettings.bind(type(self).__name__, *args, **kwargs)
        for name, value in settings.as_kwargs().items():
            setattr(self, name, value)

    __init__.__signature__ = ClassifierSettings.signature()  # what help() and Sphinx show

    @property
    def settings(self):
        """The arguments as they are now (a frozen
        :class:`~galmorph.astro.settings.ClassifierSettings`)."""
        return ClassifierSettings(**{n: getattr(self, n) for n in ClassifierSettings.names()})

    def __repr__(self):
        return (f"MorphologyClassifier(model={self.model!r}, device={self.device!r}, "
                f"tta={self.tta!r}, merger_threshold={self.merger_threshold!r})")

    # -- model --------------------------------------------------------------------------
    def load(self, n_images=None):
        """Load the model now (``predict`` does it on first use); returns ``self``.

        ``n_images``, the size of the job where known, lets ``precision="auto"``
        quantize to int8 where that pays (:mod:`galmorph.inference.loading`); the
        precision and device chosen are ``precision_`` and ``device_``.
        """
        if getattr(self, "model_", None) is not None:
            return self
        from galmorph.inference.loading import load_for_inference, trust_meta
        from galmorph.trust import TrustCalibration

        resolved, self.precision_, self.device_ = load_for_inference(
            self.model, device=self.device, precision=self.precision, n_images=n_images)
        self.preprocessing_ = resolved.preprocessing
        self.model_info_ = {"path": None if resolved.path is None else str(resolved.path),
                            "name": resolved.name}
        self.model_, self.heads_ = resolved.model, label_heads(resolved)   # own labels: heads
        self.trust_ = TrustCalibration.from_dict(
            trust_meta(resolved), self.model_info_["path"] or "the model in memory")
        return self

    # -- prediction ---------------------------------------------------------------------
    def predict(self, x, *, image_column=None, image_dir=None, separations=False,
                cosmology=None, wrap_ra=False):
        """Classify a catalogue, sky positions or images.

        Parameters
        ----------
        x : Table, SkyCoord, path(s), array(s), PIL image(s) or iterable
            - an astropy Table (or pandas DataFrame) with ``ra``/``dec`` columns
              (degrees, or with angle units) or a SkyCoord column: cutouts are
              fetched by RA/Dec (at the GZ2 scale, 0.02 petroR90_r/pixel, where
              a ``petroR90_r`` column in arcsec is present);
            - a Table with an image-path column (``path``, ``file``,
              ``filename`` or ``image``, or ``image_column=``); it is used in
              preference to coordinates, and a row whose path is empty falls
              back to its ``ra``/``dec`` (a cutout, said in its ``input_note``);
            - a SkyCoord (scalar or array); a path or list of paths;
            - a uint8 ``(H, W, 3)`` image, ``(N, H, W, 3)`` stack, or
              already-cropped ``(N, 3, s, s)`` / ``(s, s, 3)`` arrays (``s`` the
              model's input size), PIL images, or a generator of any of these
              (consumed chunk by chunk).
        image_column : str, optional
            Name of the image-path column.
        image_dir : path or sequence of paths, optional
            Folder that relative image paths are resolved against (default the
            working directory); several folders are tried in turn, and a row
            whose file is in none of them fails naming each place tried.
            ``galmorph classify CATALOG`` tries the catalogue's own folder,
            then the working directory.
        separations : bool
            Also measure the nearest projected neighbour in each full-resolution
            image (:mod:`galmorph.astro.separation`): columns ``sep_px``,
            ``sep_r90`` (petroR90_r units), ``sep_arcsec``, ``sep_kpc`` and
            ``n_sources``; ``inf`` where no neighbour is detected, NaN (and
            ``n_sources`` -1) where nothing was measured (failed rows,
            already-cropped arrays). Image files are assumed to be at the GZ2
            scale; their ``sep_arcsec`` needs a ``petroR90_r`` column.
        cosmology : astropy.cosmology.Cosmology, optional
            For ``sep_kpc`` (default Planck18).
        wrap_ra : bool
            Wrap RA outside [0, 360] deg into it; by default such a row fails.

        Returns
        -------
        astropy.table.Table
            The input columns (Table input) in the original order, the 37 fractions
            ``Class1.1`` ... ``Class11.6`` (with ``_lo``/``_hi`` where ``intervals``),
            then :data:`OUTPUT_COLUMNS` (masked on failed rows; :doc:`/trust`). ``meta``
            records the model, version, merger rule, trust calibration, TTA, failures
            and, with a ``z``/``redshift`` column, ``redshift_trends``. An end-of-run
            diagnostic that fails is recorded in ``diagnostics_error`` (with a
            :class:`~galmorph.astro.redshift.DiagnosticsWarning`), never raised.
        """
        # As they are now (they may change after load); checked before any work.
        settings = TrustSettings(self.intervals, self.merger_rule, self.merger_threshold)
        self.load(n_images=count_rows(x))
        if settings.intervals is not None:
            self.trust_.require_intervals()
        self.trust_settings_ = settings
        from galmorph.astro.cutouts import NetworkGuard

        self._network = NetworkGuard()  # one per run: once a host is unreachable, stop asking
        size = int(self.preprocessing_["size"])
        parsed = parse_input(x, image_column=image_column, image_dir=image_dir, size=size,
                             wrap_ra=wrap_ra)
        from galmorph._util._progress import progress_bar

        parts, paths, notes = [], [], []
        bar = progress_bar(total=parsed.n, enabled=self.progress, desc="classify", unit="galaxy")
        decoder = file_decoder(self, parsed, separations)
        try:
            with bar:
                # With decoding workers, a first chunk of one batch, and the next chunk read
                # and decoded while this one predicts; without, one chunk held at a time.
                first = min(int(self.chunk_size), int(self.batch_size)) if decoder else None
                chunk = self._take(parsed, first)
                pending = submit(decoder, chunk)
                while chunk:
                    if decoder is not None:
                        after = self._take(parsed)
                        ahead = submit(decoder, after)
                    parts.append(self._chunk(chunk, parsed, separations, cosmology, pending()))
                    paths += [str(r.value) if r.kind == "path" else "" for r in chunk]
                    notes += [r.note for r in chunk]  # e.g. a cutout instead of an empty path
                    bar.update(len(chunk))
                    if decoder is None:
                        after = self._take(parsed)
                        ahead = submit(decoder, after)
                    chunk, pending = after, ahead
        except BaseException:
            if decoder is not None:
                decoder.close(abort=True)
            raise
        if decoder is not None:
            decoder.close()
        if not parts:
            raise DataError("no input: the iterable of images or paths was empty")
        return self._assemble(parsed, parts, paths, separations, notes)

    def embed(self, x, *, image_column=None, image_dir=None, wrap_ra=False):
        """Each galaxy's embedding, for similarity search and anomalies (:mod:`galmorph.adapt`).

        Parameters
        ----------
        x, image_column, image_dir, wrap_ra
            As for :meth:`predict`; this classifier's model, ``tta`` and ``precision``.

        Returns
        -------
        astropy.table.Table
            The input columns, ``embedding`` (float32 (N, D), L2-normalised, NaN on failed rows:
            :mod:`galmorph.inference.embedding`), ``predict_ok``, ``predict_error``, ``input_note``;
            ``meta`` as :meth:`predict` writes it.
        """
        return embed_table(self, x, image_column=image_column, image_dir=image_dir,
                           wrap_ra=wrap_ra)

    def _take(self, parsed, n=None):
        return list(itertools.islice(parsed.rows, int(n or self.chunk_size)))

    def _chunk(self, chunk, parsed, separations, cosmology, decoded):
        """Predict one chunk: (fractions (n, 37), errors, separation columns or None).

        ``decoded`` holds the rows already decoded by worker processes, as
        ``{row: (model input or None, error, note)}``.

        Full-resolution images are fetched or read ``_BLOCK`` rows at a time and
        dropped once cropped (and measured), so a chunk holds only the small
        model inputs: ``chunk_size`` x 3 x size x size bytes.
        """
        n = len(chunk)
        errors = [r.value if r.kind == "error" else "" for r in chunk]
        notes = [""] * n      # how each image was converted to g, r, i colour
        scales = np.full(n, np.nan)   # arcsec/px of fetched cutouts
        sep_px = np.full(n, np.nan)
        n_sources = np.full(n, -1)
        ready, ok = [], []
        for start in range(0, n, _BLOCK):
            block = range(start, min(start + _BLOCK, n))
            for i, image in block_images(self, chunk, block, errors, scales, separations, notes):
                if i in decoded:
                    x, error, notes[i] = decoded[i]
                    if x is None:
                        errors[i] = f"row {chunk[i].index}: {error}"
                    else:
                        ready.append(x)
                        ok.append(i)
                    continue
                try:
                    x, note = (image, "") if chunk[i].kind == "ready" else crop_and_resize(
                        image, self.preprocessing_.get("crop"), int(self.preprocessing_["size"]),
                        convert=self.convert, return_note=True)
                    notes[i] = notes[i] or note
                except DataError as err:
                    errors[i] = f"row {chunk[i].index}: {err}"
                    continue
                ready.append(x)  # (3, size, size)
                ok.append(i)
                if separations and chunk[i].kind != "ready":
                    nb = find_nearest_neighbour(image)
                    sep_px[i], n_sources[i] = nb.sep_px, nb.n_sources
        fractions = np.full((n, schema.N_ANSWERS), np.nan, np.float32)  # (n, 37)
        trust = empty_trust(n, self.trust_settings_.intervals)
        if ready:
            images = np.stack(ready)                                     # (k, 3, s, s)
            details = self._predict_arrays(images)
            fractions[ok] = details.mean
            trust.fill(ok, trust_columns(self.trust_, details, images,
                                         intervals=self.trust_settings_.intervals))
        seps = None
        if separations:
            seps = project_separations(chunk, parsed, sep_px, scales, cosmology)
            seps["n_sources"] = n_sources
        labels = head_values(self.heads_, n, ok, details if ready else None)
        emb = chunk_embedding(self, n, ok, details if ready else None)  # (n, D) or None
        return fractions, errors, seps, notes, trust, labels, emb

    def _predict_arrays(self, images):
        """One forward pass: a :class:`~galmorph.inference.engine.Details` (the members'
        outputs and features too, where the model gives them)."""
        from galmorph.inference.engine import predict_arrays

        try:
            out = predict_arrays(self.model_, images, batch_size=self.batch_size, tta=self.tta,
                                 device=self.device_, precision=self.precision_,
                                 progress=False, details=True)
        except ModelShapeError as err:
            shape = str(err)
        else:
            if out.mean.ndim == 2 and out.mean.shape[1] == schema.N_ANSWERS:
                return out
            shape = f"shape {out.mean.shape}"
        raise CheckpointError(f"model {self.model_info_['name']} "
                              f"({self.model_info_['path'] or 'in memory'}) does not fit GZ2 "
                              f"schema {schema.SCHEMA_VERSION} ({shape}, expected "
                              f"{schema.N_ANSWERS} answers per galaxy)")

    def _assemble(self, parsed, parts, paths, separations, notes):
        fractions = np.concatenate([p[0] for p in parts])  # (N, 37)
        errors = [e for p in parts for e in p[1]]
        n = len(fractions)
        if parsed.base is not None:
            out = parsed.base.copy(copy_data=False)
        else:
            out = Table({"index": np.arange(n)})
            if any(paths):
                out["path"] = paths
        new = list(schema.KAGGLE_COLUMNS) + interval_columns(self.trust_settings_.intervals) + \
            list(OUTPUT_COLUMNS) + (list(_SEP_COLUMNS) if separations else [])
        for name in new:
            if name in out.colnames:
                warnings.warn(f"input column {name!r} renamed to {name + '_input'!r}: galmorph "
                              f"writes its prediction under that name",
                              stacklevel=caller_stacklevel())
                out.rename_column(name, name + "_input")
        for j, name in enumerate(schema.KAGGLE_COLUMNS):
            out[name] = fractions[:, j]
            out[name].unit = u.dimensionless_unscaled        # as galmorph predict writes them
            out[name].description = schema.describe_column(name)
        failed = np.array([bool(e) for e in errors])
        trust = TrustColumns.concat(p[4] for p in parts)
        trust_meta = add_trust_columns(out, fractions, trust, failed, self.trust_,
                                       self.trust_settings_)
        add_embedding_column(out, [p[6] for p in parts])
        out["predict_ok"] = ~failed
        add_label_columns(out, [p[5] for p in parts], failed, self.heads_,
                          getattr(self.model_, "config", None))
        out["predict_error"] = np.array(errors, dtype=str) if any(errors) else [""] * n
        out["predict_error"].description = "why the prediction failed (empty when it worked)"
        converted = [n for p in parts for n in p[3]]  # colour conversions, per row
        joined = ["; ".join(t for t in row if t)
                  for row in zip(notes, converted, ood_notes(trust, failed))]
        out["input_note"] = np.array(joined, dtype=str) if any(joined) else [""] * n
        out["input_note"].description = (f"{INPUT_NOTE_DESCRIPTION}; why is_ood flags the row; "
                                         f"or that the row's image path "
                                         f"was empty and a cutout was fetched by ra/dec")
        if separations:
            for name in _SEP_COLUMNS:
                out[name] = np.concatenate([p[2][name] for p in parts])
            for name, (unit, description) in _SEP_META.items():
                out[name].unit, out[name].description = unit, description
        # End-of-run diagnostics record their failures in meta; they never lose the predictions.
        for stale in ("diagnostics_error", "redshift_trends"):  # carried by an input table
            out.meta.pop(stale, None)
        failed = [p[2]["diagnostics_error"] for p in parts if separations]
        if any(failed):
            record_diagnostics_error(out, "separations", next(e for e in failed if e))
        self._meta(out, parsed, errors)
        out.meta.update(trust_meta)
        out.meta["n_converted"] = int(sum(1 for v in converted if v))
        if any(notes):  # rows with an empty path and ra/dec: cutouts fetched instead
            out.meta["n_cutout_fallback"] = int(sum(1 for v in notes if v))
            out.meta.setdefault("cutout_backend", self.backend)
        return out

    def _meta(self, out, parsed, errors):
        n_failed = sum(1 for e in errors if e)
        out.meta.update({
            "galmorph_version": __version__,
            "model_path": self.model_info_["path"],
            "model_name": self.model_info_["name"],
            "precision": self.precision_,
            "device": str(self.device_),
            "schema_version": schema.SCHEMA_VERSION,
            "tta": self.tta,
            "preprocessing": dict(self.preprocessing_),
            "input_kind": parsed.kind,
            "n_rows": len(errors),
            "n_failed": n_failed,
        })
        if parsed.kind in ("table-coords", "skycoord"):
            out.meta["cutout_backend"] = self.backend
        if n_failed:
            first = next(e for e in errors if e)
            warnings.warn(f"{n_failed} of {len(errors)} rows could not be classified (see the "
                          f"predict_ok / predict_error columns); first: {first}",
                          stacklevel=caller_stacklevel())
        if parsed.z is not None:
            record_redshift_trends(out, parsed.z)

