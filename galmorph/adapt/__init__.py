"""Adapting a trained galmorph network to new questions: heads of your own labels, and
its embeddings put to use.

- :mod:`.embeddings`: embedding tables read and written (Parquet, ECSV, FITS, ``.npy``);
- :mod:`.similarity`: :func:`find_similar`, the k nearest galaxies of a query;
- :mod:`.anomaly`: :func:`rank_anomalies`, the most unusual galaxies first;
- :mod:`.teacher`: :func:`pseudo_label`, a teacher's soft labels for unlabelled images.

Public names are imported on first use (no torch at ``import galmorph.adapt``).
"""
from galmorph._util._lazy import lazy_exports

# ``finetune`` is also the name of its submodule, so the function is imported from it:
# ``from galmorph.adapt.finetune import finetune``.
_WHERE = {
    "FinetuneConfig": "finetune", "evaluate_finetuned": "finetune_eval",
    "read_embeddings": "embeddings", "write_embeddings": "embeddings",
    "find_similar": "similarity", "rank_anomalies": "anomaly",
    "pseudo_label": "teacher",
}

__all__ = sorted(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
