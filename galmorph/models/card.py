"""The model card of the model shipped in the package.

The card is plain data (``galmorph/weights/<stem>.json``, written by
``tools/ship_model.py`` when the model is trained): how and on what the model
was trained, its validation scores with intervals, the merger flag's precision
and recall, what inputs it is meant for and its known limits. It also holds
the sha256 that :func:`galmorph.models.checkpoint.load_checkpoint` checks.

:func:`format_card` renders it as reStructuredText: ``docs/model_card.rst`` is
that text (a test keeps them equal), and ``galmorph models --card --rst`` prints
it. :func:`format_card_text` renders the same text for a terminal, which is
what ``galmorph models --card`` prints: wrapped to the terminal's width, tables
aligned, the training command as an indented shell block.
"""
from __future__ import annotations

import json
import re
import shutil
import textwrap

from galmorph.errors import CheckpointError
from galmorph.schema import QUESTIONS

__all__ = ["read_card", "format_card", "format_card_text"]


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
    # The real population (the unselected galaxies) first: published figures describe it.
    rows = [("real population", evaluation["unselected"]),
            ("whole validation split", evaluation["overall"])]
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


#: The populations paragraph of a card that has none of its own (models shipped before issue 27).
_POPULATIONS = (
    "The *real population* figure is the one to compare with published figures (the Kaggle "
    "winner's 0.0749, the paper's 0.11): those describe the Kaggle challenge's galaxies, "
    "unselected. This model was trained without population weights or pseudo-labels "
    "(``galmorph train --population-weights none``, no ``galmorph pseudo-label`` folder). "
    "Its validation split chose its epochs, so it is a selection split; every other galaxy of "
    "the shared labelled data was trained on. The *untouched split* "
    "(:func:`galmorph.data.populations.untouched_mask`: 1,007 galaxies by a hash of their IDs, "
    "116 of them unselected with all 37 answers) was defined after this model: it is held out "
    "of the training and selection of the next one (``--hold-out-untouched``), and this "
    "model's figures on it are not held-out figures.")


def _flag_rule(fitted_on):
    """How the merger flag's threshold was set, from ``MergerCalibration.fitted_on``."""
    flag = fitted_on.get("flag")
    if not flag:        # calibrations fitted before the rule was recorded: F2-best
        return ", the threshold that maximised F2 there (recall counts twice precision)"
    return (f", the highest threshold whose expected recall is {flag['rule'].split()[-1]} on "
            f"{flag['n']:,} galaxies of {flag['population']} (from merger_prob alone: "
            f"{flag['expected_mergers']:.0f} expected mergers, {flag['n_flagged']:,} flagged, "
            f"expected precision {flag['expected_precision']:.2f})")


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
              f"``MorphologyClassifier``). The *real population* row is the unselected part, "
              f"{ev['unselected_rule']}; "
              f"the rest of ``gz-kaggle-5k`` is confidently classified galaxies and easier.", ""]
    lines += _scores_table(ev)
    if ev.get("d8"):
        lines += ["", f"With d8 test-time augmentation (``tta='d8'``, 8x slower): "
                      f"{ev['d8']['unselected']:.4f} on the real population, "
                      f"{ev['d8']['overall']:.4f} overall."]
    lines += ["", "Per question (over the galaxies for which the question is known):", ""]
    lines += _question_table(ev)
    lines += ["", "Populations", "-----------", "", card.get("populations", _POPULATIONS)]
    lines += ["", "Mergers", "-------", "",
              f"The paper's rule, ``Class8.6 >= {mg['threshold']}`` (``merger_rule='paper'``): "
              f"on the validation split {mg['n_true']} galaxies are mergers by their labels "
              f"and {mg['n_flagged']} {'is' if mg['n_flagged'] == 1 else 'are'} flagged: "
              f"precision {mg['precision']:.2f}, recall "
              f"{mg['recall']:.2f}. A network's predicted fraction regresses to the mean, so "
              f"this rule misses most mergers; the default ``is_merger`` uses the calibrated "
              f"``merger_prob`` instead (below).", ""]
    if card.get("trust"):
        lines += _trust_section(card["trust"])
    lines += [
              "Intended inputs", "---------------", "", card["intended_inputs"], "",
              "Known limits", "------------", ""]
    lines += [f"- {limit}" for limit in card["limits"]]
    lines += ["", "How to cite", "-----------", "", card["cite"], ""]
    return "\n".join(lines)


_OOD_SETS = {"held_out_labelled": "held-out labelled galaxies",
             "reference_rest": "unlabelled galaxies of the other three quarters"}


def _pct(x):
    return f"{100 * x:.1f} %"


def _trust_section(trust):
    """"How far to trust an answer": the figures ``galmorph calibrate`` and
    benchmarks/trust.py measured on galaxies none of it was fitted on."""
    m = trust["measured"]
    iv = m["intervals"]
    lines = [".. _trust-figures:", "", "How far to trust an answer", "--------------------------", "",
             "Every prediction carries ``merger_prob``, ``ood_score`` and ``is_ood``; with "
             "``intervals=0.9`` (``--intervals 0.9``) each answer also gets "
             "``<answer>_lo`` and ``<answer>_hi``. The calibration is stored in the model "
             "file (``galmorph calibrate``; see the page \"How far to trust an answer\").", "",
             f"**Intervals** come from the five members' spread, calibrated by split-conformal "
             f"prediction on the {m['n_held_out']} held-out validation galaxies "
             f"({m['n_held_out_unselected']} of them unselected). Their coverage is measured "
             f"by 2-fold cross-fitting on those galaxies (each half scored with the calibration "
             f"fitted on the other half):", "",
             "=========  ==============  =====================  ==========",
             "nominal    coverage (all)  coverage (unselected)  mean width",
             "=========  ==============  =====================  =========="]
    for level, c in iv.items():
        lines.append(f"{_pct(float(level)):9s}  {c['all']['coverage']:14.3f}  "
                     f"{c['unselected']['coverage']:21.3f}  {c['all']['width']:10.3f}")
    lines += ["=========  ==============  =====================  ==========", ""]
    q90 = iv.get("0.9", {}).get("all", {}).get("per_question", {})
    if q90:
        lines += ["Coverage of the 90 % intervals per question: " + ", ".join(
            f"{q} {v['coverage']:.2f}" for q, v in q90.items()) + f". The galaxies in the "
            f"widest quarter of interval width have "
            f"{iv['0.9']['rmse_ratio_widest_to_narrowest']:.1f}x the RMSE of those in the "
            f"narrowest.", ""]
    mp = trust["merger_prob"]
    held = m["mergers"].get("held_out", {})
    gz2 = trust.get("mergers_gz2", {})
    lines += [f"**Mergers.** ``merger_prob`` is a logistic calibration of the predicted "
              f"Class8.6, fitted on the {mp['fitted_on']['n']:,} galaxies the networks trained "
              f"on ({mp['fitted_on']['n_mergers']} with Class8.6 >= 0.54). The default "
              f"``is_merger`` is ``merger_prob >= {mp['flag_threshold']:.3f}``"
              + _flag_rule(mp['fitted_on']) + ".", ""]
    if held:
        lines.append(f"- Held-out validation galaxies (Kaggle labels): {held['true_positives']} "
                     f"of {held['n_mergers']} mergers found (recall {held['recall']:.2f}), "
                     f"{held['n_flagged']} flagged (precision {held['precision']:.2f}); sum of "
                     f"merger_prob {held['sum_merger_prob']:.1f} against {held['n_mergers']} "
                     f"mergers. The paper's rule: recall {m['mergers']['paper_rule']['recall']:.2f}"
                     f", precision {m['mergers']['paper_rule']['precision']:.2f}.")
    if gz2:
        s, true = gz2["scores"], gz2["true_fraction"]
        f = gz2["merger_fraction_prob"]
        lines.append(f"- gz2-1k, against the GZ2 release's odd x merger fraction >= 0.54: "
                     f"recall {s['recall']:.2f}, precision {s['precision']:.2f} "
                     f"({s['true_positives']} of {s['n_mergers']}; the paper's rule: recall "
                     f"{gz2['paper_rule']['recall']:.2f}). ``merger_fraction`` (mean "
                     f"merger_prob) gives {f[0]:.3f} [{f[1]:.3f}, {f[2]:.3f}] (95 %) where the "
                     f"release says {true:.3f}: merger_prob is calibrated to the real "
                     f"population, about 1 % mergers, and this sample holds "
                     f"{true * mp['fitted_on']['n'] / max(mp['fitted_on']['n_mergers'], 1):.0f}"
                     f"x that share."
                     + (" ``merger_fraction(method=\"prior-shift\")``, which re-estimates the "
                        "sample's own rate from the same probabilities (label shift), gives "
                        "{:.3f} [{:.3f}, {:.3f}] (95 %).".format(
                            *gz2["merger_fraction_prior_shift"])
                        if gz2.get("merger_fraction_prior_shift") else ""))
        rel = gz2.get("release_calibrated")
        if rel:
            s = rel["cross_fitted"]
            lines.append(
                "- The same gz2-1k galaxies with merger_prob fitted on release labels (as "
                "``galmorph calibrate MODEL GZ2_FOLDER`` fits it), 2-fold cross-fitted: "
                + "; ".join(f"half of {h['n']}: {h['merger_fraction_0.95'][0]:.3f} "
                            f"[{h['merger_fraction_0.95'][1]:.3f}, "
                            f"{h['merger_fraction_0.95'][2]:.3f}] (95 %) where the release "
                            f"says {h['true_fraction']:.3f}" for h in rel["folds"])
                + f"; flags: recall {s['recall']:.2f}, precision {s['precision']:.2f}, sum "
                f"of merger_prob {s['sum_merger_prob']:.1f} against {s['n_mergers']} mergers.")
    lines.append("")
    ood = m["ood"]
    junk = trust.get("junk", {})
    lines += [f"**Out of distribution.** ``is_ood`` is ``ood_score > "
              f"{trust['ood_threshold']:.2f}``, a threshold fitted so that 2 % of a quarter of "
              f"gz-kaggle-unlabelled-22k exceed it. Flagged: "
              + "; ".join(f"{_pct(r['flagged'])} of {r['n']:,} {_OOD_SETS.get(k, k)}"
                          for k, r in ood.items())
              + (f"; {_pct(trust['ood_unlabelled']['flagged'])} of "
                 f"{trust['ood_unlabelled']['n']:,} more unlabelled galaxies through the "
                 f"classifier" if trust.get("ood_unlabelled") else "") + "."]
    if junk:
        lines += ["", "Junk images flagged (real JPEG files, made from held-out galaxies "
                      "where the kind needs one): " + ", ".join(
                          f"{k.replace('_', ' ')} {_pct(v['flagged'])}" for k, v in junk.items())
                  + "."]
    return lines + [""]


def format_card_text(card=None, width=None):
    """The card as plain text for a terminal (what ``galmorph models --card`` prints).

    The reStructuredText of :func:`format_card`, rendered: headings as plain
    lines, paragraphs and list items wrapped to ``width``, tables with their
    columns aligned (the widest column wrapped where they would not fit), and
    a long inline command as an indented block, one command per line group,
    broken before its options with backslash (``\\``) continuations, to
    paste into a shell. Only a token longer than a line (a long path) exceeds
    ``width``.

    Parameters
    ----------
    card : dict, optional
        Default: :func:`read_card`.
    width : int, optional
        Line width in characters; default the terminal's
        (:func:`shutil.get_terminal_size`, 80 where there is none).

    Returns
    -------
    str
    """
    width = shutil.get_terminal_size((80, 24)).columns if width is None else int(width)
    width = max(width, 40)
    out = []
    for block in re.split(r"\n\s*\n", format_card(card).strip("\n")):
        lines = block.split("\n")
        if len(lines) == 2 and lines[1] and set(lines[1]) <= set("=-"):
            out.append(lines[0])                                   # a heading, plain
        elif set(lines[0].strip()) == {"=", " "}:
            out.append("\n".join(_table_text(lines, width)))
        else:
            out.append("\n".join(line for item in _items(lines)
                                 for line in _item_text(item, width)))
    return "\n\n".join(out) + "\n"


_LITERAL = re.compile(r"``(.+?)``")


def _items(lines):
    """A block's paragraph, or its list items (``"- "``), each as one line of text."""
    items = []
    for line in lines:
        if line.startswith("- ") or not items:
            items.append(line.strip())
        else:
            items[-1] += " " + line.strip()
    return items


def _plain(text):
    """``text`` without inline markup (````literal````, ```interpreted```, ``*emphasis*``)."""
    text = re.sub(r"`([^`]+)`", r"\1", _LITERAL.sub(r"\1", text))
    return re.sub(r"\*(\S[^*]*?)\*", r"\1", text)


def _item_text(item, width):
    """A paragraph or list item, wrapped; a literal too long for a line becomes a block."""
    lead = "  " if item.startswith("- ") else ""
    lines, rest = [], item
    while True:
        long = next((m for m in _LITERAL.finditer(rest)
                     if len(m.group(1)) > width - len(lead) - 8), None)
        text = rest if long is None else rest[:long.start()]
        if text.strip():
            lines += textwrap.wrap(_plain(text), width, subsequent_indent=lead,
                                   initial_indent="" if not lines else lead,
                                   break_long_words=False, break_on_hyphens=False)
        if long is None:
            return lines
        command, _, note = long.group(1).partition(" (")  # an unquoted "(" ends a command
        lines += _command_block(command, width, lead + "    ")
        rest = ("(" + note + " " if note else "") + rest[long.end():].lstrip()


def _command_block(text, width, indent):
    """Shell commands (joined by ``&&``) as lines of at most ``width``, broken before options."""
    commands = text.split(" && ")
    lines = []
    for k, command in enumerate(commands):
        groups = []                           # the program and each option with its values
        for token in command.split():
            if token.startswith("-") or not groups or len(groups) < 2:
                groups.append(token)
            else:
                groups[-1] += " " + token
        if k < len(commands) - 1:
            groups[-1] += " &&"
        line, room = indent, width - 2        # room for the " \\" continuation
        for group in groups:
            for part in ([group] if len(indent) + 4 + len(group) <= room else group.split()):
                if line.strip() and len(line) + 1 + len(part) > room:
                    lines.append(line + " \\")
                    line = indent + "    "
                line += ("" if not line.strip() else " ") + part
        lines.append(line)
    return lines


def _table_text(lines, width):
    """A reST simple table with its columns aligned; the widest one wrapped to fit ``width``."""
    border = lines[0]
    starts = [m.start() for m in re.finditer(r"=+", border)]
    rows = [[line[a:b].strip() for a, b in zip(starts, starts[1:] + [None])]
            for line in lines if set(line.strip()) != {"=", " "}]
    columns = range(len(starts))
    widths = [max(len(row[c]) for row in rows) for c in columns]
    floors = [max(len(word) for row in rows for word in row[c].split() or [""]) for c in columns]
    indent, gap = "  ", "  "
    room = width - len(indent) - len(gap) * (len(widths) - 1)
    while sum(widths) > room:        # narrow the widest column that still has words to wrap
        narrowable = [c for c in columns if widths[c] > floors[c]]
        if not narrowable:
            break
        widths[max(narrowable, key=lambda c: widths[c])] -= 1
    out = []
    for r, row in enumerate(rows):
        cells = [textwrap.wrap(cell, widths[c], break_long_words=False) or [""]
                 for c, cell in enumerate(row)]
        for i in range(max(len(c) for c in cells)):
            out.append((indent + gap.join(f"{c[i] if i < len(c) else '':{w}s}"
                                          for c, w in zip(cells, widths))).rstrip())
        if r == 0:
            out.append(indent + gap.join("-" * w for w in widths))
    return out
