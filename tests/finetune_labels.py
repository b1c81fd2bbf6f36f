"""A table of real Kaggle galaxies with labels of our own (tests of galmorph finetune)."""
import numpy as np
import pandas as pd


def ring_table(kaggle_5k, folder, n=20, n_rings=5):
    """A CSV of ``n`` real Kaggle galaxies: ``path`` (relative to the table's folder),
    ``ring`` (True where Class8.1, the ring answer, is above 0.05), ``smooth`` (Class1.1)
    and ``shape`` (smooth / spiral / other)."""
    labels = pd.read_csv(kaggle_5k / "training_solutions_rev1.csv", nrows=400)
    ring = labels["Class8.1"] > 0.05
    chosen = pd.concat([labels[ring].iloc[:n_rings], labels[~ring].iloc[:n - n_rings]])
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    for galaxy in chosen["GalaxyID"]:
        target = images / f"{galaxy}.jpg"
        if not target.exists():
            target.symlink_to(kaggle_5k / "images_training_rev1" / f"{galaxy}.jpg")
    shape = np.where(chosen["Class1.1"] > 0.6, "smooth",
                     np.where(chosen["Class4.1"] > 0.4, "spiral", "other"))
    table = pd.DataFrame({"path": [f"images/{g}.jpg" for g in chosen["GalaxyID"]],
                          "ring": (chosen["Class8.1"] > 0.05).to_numpy(),
                          "smooth": chosen["Class1.1"].round(4).to_numpy(), "shape": shape})
    path = folder / "labels.csv"
    table.to_csv(path, index=False)
    return path
