"""Time galmorph.models.tree.tree_normalize against a per-question Python loop.

Prints milliseconds per call (forward + backward) for both versions, so the
choice of the vectorised implementation (index_add / gather over tables
derived from the schema) can be checked on any machine.

    python benchmarks/tree_normalize.py --batch 256 --repeats 200
"""
import argparse
import time

import torch

from galmorph import schema
from galmorph.models.tree import tree_normalize


def loop_tree_normalize(raw, eps=1e-12):
    """Reference: one slice per question, then parents in TREE_ORDER (ReLU variant)."""
    x = torch.relu(raw)
    cond = []
    for number, s in schema.QUESTION_SLICES.items():
        part = x[:, s]
        total = part.sum(1, keepdim=True)
        ok = total > eps
        cond.append(torch.where(ok, part / torch.where(ok, total, torch.ones_like(total)),
                                torch.full_like(part, 1.0 / part.shape[1])))
    cond = torch.cat(cond, 1)
    cols = list(cond.unbind(1))
    for number in schema.TREE_ORDER:
        parent = schema.PARENT_INDEX[number]
        if parent is not None:
            s = schema.QUESTION_SLICES[number]
            for j in range(s.start, s.stop):
                cols[j] = cols[j] * cols[parent]
    return torch.stack(cols, 1)


def bench(fn, raw, repeats):
    for _ in range(5):
        fn(raw).sum().backward()
    start = time.perf_counter()
    for _ in range(repeats):
        fn(raw).sum().backward()
    return (time.perf_counter() - start) / repeats * 1e3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256, help="batch size (default 256)")
    parser.add_argument("--repeats", type=int, default=200, help="timed calls (default 200)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    raw = torch.randn(args.batch, schema.N_ANSWERS, requires_grad=True)
    torch.testing.assert_close(loop_tree_normalize(raw), tree_normalize(raw))
    for name, fn in [("vectorised relu", tree_normalize),
                     ("vectorised softmax", lambda r: tree_normalize(r, kind="softmax")),
                     ("python loop relu", loop_tree_normalize)]:
        print(f"{name:20s} batch {args.batch}: {bench(fn, raw, args.repeats):.3f} ms "
              f"per forward+backward")


if __name__ == "__main__":
    main()
