"""``galmorph models``: the shipped model, its card, and which model is used by default."""

__all__ = ["add_parser", "run"]


def add_parser(subparsers):
    p = subparsers.add_parser(
        "models", help="list the shipped model, the registered default and which one is used",
        description="List the model shipped with galmorph (trained on real GZ2 galaxies), the "
                    "default registered by 'galmorph train --set-default', $GALMORPH_MODEL, "
                    "and which of them classify, predict and evaluate use when no model is "
                    "given. --card prints the shipped model's card.")
    p.add_argument("--card", action="store_true",
                   help="print the shipped model's card: data, recipe, scores with "
                        "intervals, merger precision and recall, limits; as text wrapped to "
                        "the terminal's width ($COLUMNS, else 80) (default: off)")
    p.add_argument("--rst", action="store_true",
                   help="print the card as reStructuredText instead, the source of the "
                        "documentation's model card page (implies --card) (default: off)")
    p.set_defaults(func=run)
    return p


def run(args):
    from galmorph.errors import NoModelError
    from galmorph.models.card import format_card, format_card_text, read_card
    from galmorph.paths import (default_model_path, model_source, shipped_card_path,
                                shipped_model_path)

    if args.rst:
        print(format_card(read_card()))
        return 0
    if args.card:
        print(format_card_text(read_card()), end="")
        return 0
    import os

    shipped = shipped_model_path()
    if shipped is None:
        print(f"shipped model      none in this installation ({shipped_card_path().parent})")
    else:
        card = read_card()
        ev = card["evaluation"]
        print(f"shipped model      {card['name']} ({card['model']}, {shipped})")
        print(f"                   validation RMSE {ev['overall']['rmse']:.4f} overall, "
              f"{ev['unselected']['rmse']:.4f} on unselected galaxies (mean baseline "
              f"{ev['overall']['baselines']['mean']:.4f}); 'galmorph models --card' for more")
    registered = default_model_path()
    print(f"registered default {registered if registered else 'none (galmorph train --set-default)'}")
    print(f"$GALMORPH_MODEL    {os.environ.get('GALMORPH_MODEL') or 'unset'}")
    try:
        path, origin = model_source()
        print(f"used by default    {path} ({origin})")
    except NoModelError as err:
        print(f"used by default    none: {err}")
    return 0
