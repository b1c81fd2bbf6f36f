"""A trained galmorph network with heads of your own: labels predicted from its features.

A :class:`Finetuned` model wraps a trained galmorph network (``base``, any
registered model, the shipped :class:`~galmorph.models.ensemble.Ensemble`
included) and adds :class:`LabelHeads`: one linear layer on the base's pooled
features (``forward_features``, standardised by the training galaxies' mean
and spread), with a slice of outputs per label. It is an ordinary galmorph
model: ``forward`` still returns the base's ``(B, 37)`` GZ2 fractions, so
prediction, evaluation and the classifier take it unchanged, and
:meth:`Finetuned.forward_labels` gives the new outputs. The head specification
is plain data in the config, so :func:`~galmorph.models.checkpoint.load_checkpoint`
rebuilds it with no flags and :mod:`galmorph.inference` reads it without
importing :mod:`galmorph.adapt`, which trains it.

A head is a dict (a *head spec*)::

    {"label": "ring", "task": "binary", "classes": ["False", "True"]}
    {"label": "shape", "task": "multiclass", "classes": ["bar", "disc", "smooth"]}
    {"label": "z", "task": "regression", "mean": 0.08, "scale": 0.03}

A binary head outputs the probability of its second class; a multiclass head one
probability per class (softmax); a regression head the value in the label's own
units (``mean + scale * output``).

    >>> from galmorph.models import build_model
    >>> base = build_model("cnn")
    >>> model = finetuned_of(base, [{"label": "ring", "task": "binary",
    ...                              "classes": ["False", "True"]}], num_features=2048)
    >>> output_columns(model.config.heads)
    ['ring']
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["FINETUNED", "TASKS", "ENCODER_MODES", "FinetunedConfig", "Finetuned", "LabelHeads",
           "finetuned_of", "head_widths", "output_columns", "check_heads"]

#: The registered name of a model with heads of its own.
FINETUNED = "finetuned"
#: Kinds of head.
TASKS = ("binary", "multiclass", "regression")
#: What of the base network was trained: nothing (a linear probe), its last stage, or all.
ENCODER_MODES = ("frozen", "last", "all")


def check_heads(heads):
    """The head specs as a tuple of plain dicts; ``ValueError`` naming a bad one."""
    out, seen = [], set()
    for i, head in enumerate(heads):
        head = dict(head)
        label, task = head.get("label"), head.get("task")
        if not isinstance(label, str) or not label:
            raise ValueError(f"head {i} needs a 'label' name, not {label!r}")
        if label in seen:
            raise ValueError(f"label {label!r} has two heads")
        seen.add(label)
        if task not in TASKS:
            raise ValueError(f"head {label!r}: task must be one of {TASKS}, not {task!r}")
        classes = [str(c) for c in head.get("classes") or ()]
        if task == "binary" and len(classes) != 2:
            raise ValueError(f"binary head {label!r} needs 2 classes, not {classes}")
        if task == "multiclass" and len(classes) < 2:
            raise ValueError(f"multiclass head {label!r} needs at least 2 classes")
        if task != "regression":
            head["classes"] = classes
        else:
            head["mean"], head["scale"] = float(head.get("mean", 0.0)), float(
                head.get("scale", 1.0))
            if not head["scale"] > 0:
                raise ValueError(f"regression head {label!r}: scale must be positive")
        out.append(head)
    if not out:
        raise ValueError("a finetuned model needs at least one head")
    return tuple(out)


def head_widths(heads):
    """Outputs of each head: 1 for binary and regression, one per class for multiclass."""
    return [len(h["classes"]) if h["task"] == "multiclass" else 1 for h in heads]


def output_columns(heads):
    """The column names a finetuned model's predictions go in, in head order.

    Binary and regression: ``<label>``; multiclass: ``<label>_<class>`` for each
    class, then ``<label>`` (the most probable class).
    """
    names = []
    for h in heads:
        if h["task"] == "multiclass":
            names += [f"{h['label']}_{c}" for c in h["classes"]]
        names.append(h["label"])
    return names


@dataclass
class FinetunedConfig:
    """What a :class:`Finetuned` model is made of (plain data, JSON-able).

    Attributes
    ----------
    name : str
        Always ``"finetuned"``.
    base : dict
        The base network's config as stored in checkpoints (with its ``"name"``).
    heads : tuple of dict
        The head specs (see the module docstring).
    num_features : int
        Width of the base's pooled features (an ensemble's: its members' summed).
    encoder : {"frozen", "last", "all"}
        What of the base was trained with the heads. Frozen: the 37 GZ2 outputs
        are the base's own.
    input_size : int
        As the base's.
    """

    name: str = FINETUNED
    base: dict = dataclasses.field(default_factory=dict)
    heads: tuple = ()
    num_features: int = 0
    encoder: str = "frozen"
    input_size: int = 80

    def __post_init__(self):
        if self.name != FINETUNED:
            raise ValueError(f"FinetunedConfig.name must be {FINETUNED!r}, not {self.name!r}")
        self.base = dict(self.base)
        if self.base.get("name") in (None, FINETUNED):
            raise ValueError(f"a finetuned model's base must be a network config with a "
                             f"'name', not {self.base.get('name')!r}")
        self.heads = check_heads(self.heads)
        if int(self.num_features) < 1:
            raise ValueError(f"num_features must be positive, not {self.num_features!r}")
        if self.encoder not in ENCODER_MODES:
            raise ValueError(f"encoder must be one of {ENCODER_MODES}, not {self.encoder!r}")


class LabelHeads(nn.Module):
    """One linear layer on standardised features, a slice of outputs per head.

    Parameters
    ----------
    num_features : int
    heads : sequence of dict
        Head specs (see the module docstring).
    """

    def __init__(self, num_features, heads):
        super().__init__()
        self.heads = check_heads(heads)
        self.widths = head_widths(self.heads)
        # Persistent: the statistics are learnt from the labelled galaxies, so they are weights.
        self.register_buffer("feature_mean", torch.zeros(num_features))
        self.register_buffer("feature_std", torch.ones(num_features))
        self.linear = nn.Linear(num_features, sum(self.widths))
        nn.init.zeros_(self.linear.weight)   # start from the prior (zero logits, mean value)
        nn.init.zeros_(self.linear.bias)

    def set_feature_stats(self, features):
        """Standardise with the mean and standard deviation of ``features`` (N, F)."""
        features = torch.as_tensor(features, dtype=torch.float32)
        self.feature_mean.copy_(features.mean(0))
        self.feature_std.copy_(features.std(0, unbiased=False).clamp(min=1e-6))

    def forward(self, features):  # (B, F) -> (B, sum of widths): logits, or standardised values
        return self.linear((features.float() - self.feature_mean) / self.feature_std)

    def split(self, raw):
        """``raw`` (B, K) as one tensor per head."""
        return torch.split(raw, self.widths, dim=1)

    def outputs(self, raw):
        """(B, K) raw outputs -> probabilities (binary, multiclass) or values (regression)."""
        parts = []
        for head, part in zip(self.heads, self.split(raw.float())):
            if head["task"] == "binary":
                parts.append(torch.sigmoid(part))
            elif head["task"] == "multiclass":
                parts.append(torch.softmax(part, dim=1))
            else:
                parts.append(head["mean"] + head["scale"] * part)
        return torch.cat(parts, 1)


class Finetuned(nn.Module):
    """A base network and :class:`LabelHeads` on its pooled features.

    Parameters
    ----------
    config : FinetunedConfig
        The base is built from its config, freshly initialised; load trained
        weights from a checkpoint or with :func:`finetuned_of`.
    """

    #: Weights stored as they are when the checkpoint stores the rest in int8.
    keep_float = ("label_heads.",)

    def __init__(self, config):
        super().__init__()
        from galmorph.models import build_model

        self.config = config
        self.base = build_model(config.base)
        self.label_heads = LabelHeads(int(config.num_features), config.heads)

    def forward(self, x):  # (B, 3, H, W) -> (B, 37): the base's GZ2 fractions
        return self.base(x)

    def forward_features(self, x):  # (B, 3, H, W) -> (B, F)
        return self.base.forward_features(x)

    def forward_details(self, x):
        """The base's ``(outputs (M, B, 37), features (B, F))``."""
        return self.base.forward_details(x)

    def forward_labels(self, x):
        """(B, 3, H, W) -> (B, K) the heads' probabilities and values."""
        return self.label_heads.outputs(self.label_heads(self.forward_features(x)))


def finetuned_of(base, heads, num_features, encoder="frozen"):
    """A :class:`Finetuned` model holding a copy of the trained network ``base``.

    Parameters
    ----------
    base : torch.nn.Module
        A galmorph network (with a ``config`` dataclass); a wrapper is unwrapped.
    heads : sequence of dict
        Head specs.
    num_features : int
        Width of ``base.forward_features``.
    encoder : {"frozen", "last", "all"}

    Returns
    -------
    Finetuned
        Its heads freshly initialised (zero weights: the prior), in eval mode.
    """
    base = getattr(base, "module", base)
    if isinstance(base, Finetuned):
        base = base.base                    # a finetuned model finetuned again: its base
    config = getattr(base, "config", None)
    if config is None or not dataclasses.is_dataclass(config):
        raise ValueError(f"{type(base).__name__} is not a galmorph network (no config)")
    stored = dataclasses.asdict(config)
    model = Finetuned(FinetunedConfig(
        base=stored, heads=tuple(heads), num_features=int(num_features), encoder=encoder,
        input_size=int(stored.get("input_size", 80))))
    model.base.load_state_dict(base.state_dict())
    return model.eval()
