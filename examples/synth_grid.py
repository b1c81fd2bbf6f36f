"""
A grid of synthetic galaxies, four per GZ2 answer
=================================================

Draw a grid of synthetic galaxies, four for each of the 37 GZ2 answers.

For every answer, the four galaxies of a synthetic sample where that answer
gets the largest share of its question's votes (among galaxies where most
volunteers reached the question) are shown as central crops. This is the
figure of docs/synthetic.rst::

    python examples/synth_grid.py --n 2000 --out docs/_static/synth_grid.png

It draws 2,000 galaxies (a minute or two), so the documentation shows its saved
output rather than running it:

.. image:: /_static/synth_grid.png
   :alt: A grid of 37 mosaics of four synthetic galaxies each, one per GZ2 answer.
"""
# sphinx_gallery_thumbnail_path = '_static/synth_grid.png'
import argparse
from concurrent.futures import ProcessPoolExecutor

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from galmorph.synth import synth_galaxy  # noqa: E402
from galmorph.schema import (ANSWER_LABELS, ANSWERS, KAGGLE_COLUMNS, PARENT_INDEX,  # noqa: E402
                             QUESTION_SLICES)

CROP = 256   # central crop shown (the networks see the central 224)
THUMB = 96   # thumbnail side in the figure, pixels


def _one(args):
    seed, index = args
    image, labels, _ = synth_galaxy(seed, index)
    c0 = (image.shape[0] - CROP) // 2
    thumb = Image.fromarray(image[c0:c0 + CROP, c0:c0 + CROP]).resize((THUMB, THUMB),
                                                                      Image.LANCZOS)
    return np.asarray(thumb), labels


def sample(n, seed, workers):
    with ProcessPoolExecutor(workers) as pool:
        out = list(pool.map(_one, [(seed, i) for i in range(n)], chunksize=32))
    thumbs = np.stack([t for t, _ in out])
    labels = np.stack([lab for _, lab in out])
    return thumbs, labels


def pick(labels, column, k=4):
    """Rows where ``column`` dominates its question, strongest first."""
    q = ANSWERS[column].question
    s = QUESTION_SLICES[q]
    parent = PARENT_INDEX[q]
    reach = np.ones(len(labels)) if parent is None else labels[:, parent]
    share = labels[:, column] / np.maximum(reach, 1e-9)
    ok = (labels[:, s].argmax(axis=1) == column - s.start) & (reach > 0.4)
    order = np.argsort(-(share * ok))
    return [int(i) for i in order[:k] if ok[i]]


def draw(thumbs, labels, out, ncols=8):
    nrows = int(np.ceil(len(KAGGLE_COLUMNS) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * 1.9, nrows * 2.25), dpi=100)
    fig.patch.set_facecolor("white")
    for ax in axes.ravel():
        ax.set_axis_off()
    for column, name in enumerate(KAGGLE_COLUMNS):
        ax = axes.ravel()[column]
        rows = pick(labels, column)
        mosaic = np.zeros((2 * THUMB + 2, 2 * THUMB + 2, 3), np.uint8) + 255
        for k, r in enumerate(rows):
            y, x = divmod(k, 2)
            mosaic[y * (THUMB + 2):y * (THUMB + 2) + THUMB,
                   x * (THUMB + 2):x * (THUMB + 2) + THUMB] = thumbs[r]
        ax.imshow(mosaic)
        ax.set_title(f"{name}\n{ANSWER_LABELS[column]}", fontsize=8)
    fig.tight_layout(pad=0.3)
    fig.canvas.draw()
    rgb = Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3])
    plt.close(fig)
    # A dithered adaptive 256-colour palette keeps the PNG small for the docs.
    rgb.quantize(256, method=Image.Quantize.FASTOCTREE,
                 dither=Image.Dither.FLOYDSTEINBERG).save(out, optimize=True)


def main(argv=None):
    p = argparse.ArgumentParser(
        description="Draw a grid of synthetic galaxies, four for each of the 37 GZ2 answers.")
    p.add_argument("--n", type=int, default=2000, help="galaxies to draw from (default: 2000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample (default: 0)")
    p.add_argument("--workers", type=int, default=2, help="processes (default: 2)")
    p.add_argument("--out", default="docs/_static/synth_grid.png",
                   help="output PNG (default: docs/_static/synth_grid.png)")
    args = p.parse_args(argv)
    thumbs, labels = sample(args.n, args.seed, args.workers)
    draw(thumbs, labels, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
