"""Which output layer trains best: sigmoid, tree (ReLU) or tree (softmax)?

Trains the small ``cnn`` with each output layer on the same split of a
prepared cache (``galmorph prepare``) for a few epochs and prints the
validation RMSE over the 37 answers, next to the constant (mean-label)
baseline. Deliberately short: it compares the heads, it does not train a
good model.

    python benchmarks/output_heads.py ~/.cache/galmorph/prepared/gz-kaggle-5k-... --epochs 3
"""
import argparse
import math
import time

import numpy as np
import torch

from galmorph import schema
from galmorph.data.cache import open_prepared
from galmorph.models import build_model
from galmorph.runtime import autocast, maybe_channels_last, resolve_precision

HEADS = {"sigmoid": {"output": "sigmoid"},
         "tree-relu": {"output": "tree", "tree_kind": "relu"},
         "tree-softmax": {"output": "tree", "tree_kind": "softmax"}}


def rmse(model, images, labels, precision, batch=256):
    model.eval()
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = torch.from_numpy(np.asarray(images[i:i + batch])).float().div_(255)
            model, x = maybe_channels_last(model, x, "cpu", precision)
            with autocast("cpu", precision):
                pred = model(x)
            total += float(((pred.float() - torch.from_numpy(labels[i:i + batch])) ** 2).sum())
    model.train()
    return math.sqrt(total / (len(images) * schema.N_ANSWERS))


def train_head(head, data, train, val, args, precision):
    torch.manual_seed(args.seed)
    model = build_model("cnn", **HEADS[head])
    model, _ = maybe_channels_last(model, None, "cpu", precision)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed)
    start = time.process_time()
    for _ in range(args.epochs):
        order = rng.permutation(train)
        for i in range(0, len(order) - args.batch + 1, args.batch):
            rows = np.sort(order[i:i + args.batch])
            x = torch.from_numpy(data.images[rows]).float().div_(255)
            x = x.contiguous(memory_format=torch.channels_last)
            y = torch.from_numpy(data.labels[rows])
            with autocast("cpu", precision):
                loss = ((model(x).float() - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    seconds = time.process_time() - start
    val_rows = np.sort(val)
    return rmse(model, data.images[val_rows], data.labels[val_rows], precision), seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cache", help="prepared cache folder (from galmorph prepare)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per head (default 3)")
    parser.add_argument("--batch", type=int, default=64, help="batch size (default 64)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    parser.add_argument("--val", type=int, default=1000, help="validation galaxies (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--heads", nargs="+", default=list(HEADS), choices=list(HEADS),
                        help="output layers to compare (default: all)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = open_prepared(args.cache)
    order = np.random.default_rng(args.seed).permutation(len(data.labels))
    val, train = order[:args.val], order[args.val:]
    precision = resolve_precision("cpu", "auto")
    base = np.sqrt(((data.labels[val] - data.labels[train].mean(0)) ** 2).mean())
    print(f"{len(train)} train / {len(val)} val galaxies, {args.epochs} epochs, {precision}")
    print(f"  constant (mean label) baseline   val RMSE {base:.4f}")
    for head in args.heads:
        score, seconds = train_head(head, data, train, val, args, precision)
        print(f"  cnn + {head:14s}             val RMSE {score:.4f}  ({seconds:.0f} CPU s)")


if __name__ == "__main__":
    main()
