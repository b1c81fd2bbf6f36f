"""The model card of the model shipped in the package.

The card is plain data (``galmorph/weights/<stem>.json``, written by
``tools/ship_model.py`` when the model is trained): how and on what the model
was trained, its validation scores with intervals, the merger flag's precision
and recall, what inputs it is meant for and its known limits. It also holds
the sha256 that :func:`galmorph.models.checkpoint.load_checkpoint` checks.

:func:`format_card` renders it as reStructuredText; ``galmorph models --card``
prints that, and ``docs/model_card.rst`` is the same text (a test keeps them
equal).
"""
from __future__ import annotations

import json

from galmorph.errors import CheckpointError
from galmorph.schema import QUESTIONS

__all__ = ["read_card", "format_card"]


def read_card(path=None):
    """The shipped model's card as a dict.

    Parameters
    ----------
    path : path-like, optional
        A card file; default the shipped one (:func:`galmorph.paths.shipped_card_path`).

    Raises
    ------
    CheckpointError
        The card is missing or unreadable.
    """
    from galmorph.paths import shipped_card_path

    path = shipped_card_path() if path is None else path
    try:
        return json.loads(open(path, encoding="utf-8").read())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"model card {path} is missing or unreadable "
                              f"({type(exc).__name__}: {exc}); reinstall galmorph") from None


def _ci(ci):
    return f"{ci[0]:.4f}-{ci[1]:.4f}" if ci else "n/a"


def _scores_table(evaluation):
    rows = [("whole validation split", evaluation["overall"]),
            ("unselected part", evaluation["unselected"])]
    lines = ["   ==========================  ======  =========  =============  =================",
             "   galaxies                    N       RMSE       95 % interval  mean baseline",
             "   ==========================  ======  =========  =============  ================="]
    for label, part in rows:
        lines.append(f"   {label:26s}  {part['n_galaxies']:<6d}  {part['rmse']:<9.4f}  "
                     f"{_ci(part['rmse_ci95']):13s}  {part['baselines']['mean']:.4f}")
    lines.append(lines[0])
    return lines


def _question_table(evaluation):
    lines = ["   ====  ==========================================================  ======  ======",
             "   Q     question                                                    RMSE    N",
             "   ====  ==========================================================  ======  ======"]
    for q in QUESTIONS:
        key = f"Q{q.number}"
        value = evaluation["per_question"].get(key)
        n = evaluation.get("questions", {}).get(key, 0)
        text = q.text if len(q.text) <= 58 else q.text[:55] + "..."
        lines.append(f"   {key:4s}  {text:58s}  {'-' if value is None else f'{value:.4f}':6s}  "
                     f"{n}")
    lines.append(lines[0])
    return lines


def _label(member, members):
    """A member's name in the card: its seed, and its width where the members' differ."""
    widths = {m.get("width") for m in members}
    return f"seed {member['seed']}" + (f" at width {member['width']}" if len(widths) > 1 else "")


def _trained(tr, members):
    """The card's "Trained for" line: one run, or each member of an ensemble."""
    if not members:
        return f"- Trained for {tr['seconds']:,.0f} s ({tr['epochs']} epochs) on {tr['machine']}."
    runs = "; ".join(f"{_label(m, members)} for {m['seconds']:,.0f} s ({m['epochs']} epochs, "
                     f"patience {m['plateau_patience']}, best epoch {m['best_epoch']} kept)"
                     for m in members)
    return f"- Trained for {tr['seconds']:,.0f} s in all on {tr['machine']}: {runs}."


def _commits(tr, members):
    """The card's commit line: one commit, or which members were trained at which."""
    by_commit = {}
    for m in members:
        by_commit.setdefault(m.get("git_commit") or tr["git_commit"], []).append(m)
    if len(by_commit) <= 1:
        return f"- galmorph commit ``{tr['git_commit']}``."
    widths = len({m.get("width") for m in members}) > 1
    groups = []
    for commit, group in by_commit.items():
        seeds = ", ".join(str(m["seed"]) for m in group)
        what = f"seed{'s' if len(group) > 1 else ''} {seeds}"
        group_widths = {m.get("width") for m in group}
        if widths and len(group_widths) == 1:
            what += f" at width {group_widths.pop()}"
        groups.append(f"``{commit}`` ({what})")
    return "- galmorph commits " + " and ".join(groups) + "."


def format_card(card=None):
    """The card as reStructuredText (what ``galmorph models --card`` prints).

    Parameters
    ----------
    card : dict, optional
        Default: :func:`read_card`.

    Returns
    -------
    str
    """
    card = read_card() if card is None else card
    tr, ev, mg = card["training"], card["evaluation"], card["merger"]
    title = f"Model card: {card['name']}"
    members = card.get("members") or []
    what = (f"the mean of {len(members)} networks" if members else f"``{card['model']}``")
    lines = [title, "=" * len(title), "",
             f"The model galmorph uses when no other is given ({what}, "
             f"{card['n_parameters']:,} parameters, {card['dtype']} weights, "
             f"{card['size_bytes'] / 1e6:.1f} MB, sha256 ``{card['sha256'][:16]}...``).", "",
             "Training data and recipe", "------------------------", ""]
    for d in tr["data"]:
        lines.append(f"- ``{d['name']}``: {d['n']:,} galaxies, {d['labels']}.")
    lines += ["", f"- Recipe: {tr['recipe']}.",
              _trained(tr, members),
              f"- Validation split: {card['split']['n_val']} galaxies, "
              f"{card['split']['val_fraction']:.0%} of each folder (seed "
              f"{card['split']['seed']}), stratified by folder; its IDs are in the card file.",
              f"- Command: ``{tr['command']}``",
              _commits(tr, members), "",
              "Validation scores", "-----------------", "",
              f"Kaggle RMSE over the known labels of the validation split, with 95 % bootstrap "
              f"intervals over galaxies, without test-time augmentation (the default of "
              f"``MorphologyClassifier``). The *unselected* part is {ev['unselected_rule']}; "
              f"the rest of ``gz-kaggle-5k`` is confidently classified galaxies and easier.", ""]
    lines += _scores_table(ev)
    if ev.get("d8"):
        lines += ["", f"With d8 test-time augmentation (``tta='d8'``, 8x slower): "
                      f"{ev['d8']['overall']:.4f} overall, {ev['d8']['unselected']:.4f} on the "
                      f"unselected part."]
    lines += ["", "Per question (over the galaxies for which the question is known):", ""]
    lines += _question_table(ev)
    lines += ["", "Mergers", "-------", "",
              f"``is_merger`` is ``Class8.6 >= {mg['threshold']}``, as in the paper. On the "
              f"validation split {mg['n_true']} galaxies are mergers by their labels and "
              f"{mg['n_flagged']} {'is' if mg['n_flagged'] == 1 else 'are'} flagged: "
              f"precision {mg['precision']:.2f}, recall "
              f"{mg['recall']:.2f}. Mergers are rare (Class8.6 is a weighted fraction, "
              f"bounded by Class6.1), so treat single flags with care and prefer "
              f"``merger_fraction`` with its interval for samples.", "",
              "Intended inputs", "---------------", "", card["intended_inputs"], "",
              "Known limits", "------------", ""]
    lines += [f"- {limit}" for limit in card["limits"]]
    lines += ["", "How to cite", "-----------", "", card["cite"], ""]
    return "\n".join(lines)
