"""ClassifierSettings: the settings of a MorphologyClassifier, defined once.

The fields of :class:`ClassifierSettings`, in order and with their defaults, are
the arguments of :class:`~galmorph.astro.classifier.MorphologyClassifier`; the
survey settings (:class:`~galmorph.workflows.survey.SurveySettings`) extend
them, and ``galmorph classify`` builds its flags from them, as ``galmorph train``
builds its flags from :class:`~galmorph.training.config.TrainConfig`. Each
setting is documented once, on :class:`~galmorph.astro.classifier.MorphologyClassifier`.

Examples
--------
>>> from galmorph.astro.settings import ClassifierSettings
>>> settings = ClassifierSettings(tta="d8", intervals=0.9)
>>> settings.merger_rule, settings.batch_size
('prob', 256)
>>> from galmorph import MorphologyClassifier
>>> MorphologyClassifier(**settings.as_kwargs()).settings == settings
True
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, fields

from galmorph.schema import PAPER_MERGER_THRESHOLD

__all__ = ["ClassifierSettings"]


@dataclass(frozen=True)
class ClassifierSettings:
    """The arguments of :class:`~galmorph.astro.classifier.MorphologyClassifier`, with their
    defaults (each is documented there).

    Values are stored as given, as the classifier's constructor stores them
    (scikit-learn style): a bad one is reported where it is used (``predict``,
    ``load``), not here.
    """

    model: object = None
    device: str = "auto"
    tta: object = None
    merger_threshold: float = PAPER_MERGER_THRESHOLD
    batch_size: int = 256
    backend: str = "hips2fits"
    cache_dir: object = None
    progress: bool = True
    chunk_size: int = 1024
    precision: str = "auto"
    timeout: float = 30.0
    retries: int = 3
    workers: int = 1
    convert: str = "flag"
    intervals: float | None = None
    merger_rule: str = "prob"
    embedding: bool = False

    @classmethod
    def names(cls):
        """The settings' names, in the order of the classifier's arguments (tuple of str)."""
        return tuple(f.name for f in fields(ClassifierSettings))

    @classmethod
    def bind(cls, owner, /, *args, **kwargs):
        """The settings of a call ``owner(*args, **kwargs)`` that takes the settings' arguments.

        A wrong name or too many arguments is the :class:`TypeError` Python raises for
        such a call, naming ``owner`` (a str, such as ``"MorphologyClassifier"``).
        """
        try:
            return cls(*args, **kwargs)
        except TypeError as err:
            raise TypeError(str(err).replace(f"{cls.__qualname__}.__init__()", f"{owner}()")
                            .replace("__init__()", f"{owner}()")) from None

    @classmethod
    def signature(cls):
        """The :class:`inspect.Signature` of ``__init__(self, model=None, device="auto", ...)``
        for a class that takes the settings as its arguments, for :func:`help` and Sphinx."""
        params = list(inspect.signature(cls).parameters.values())
        self = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
        return inspect.Signature([self] + [p.replace(annotation=inspect.Parameter.empty)
                                           for p in params])

    def as_kwargs(self, *, skip=()):
        """The settings as keyword arguments of the classifier (a dict, values not copied),
        leaving out the names in ``skip``."""
        return {name: getattr(self, name) for name in self.names() if name not in skip}
