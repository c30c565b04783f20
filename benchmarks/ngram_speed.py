"""Speed of the n-gram yardstick: fitting Kneser-Ney on a whole train split, and scoring val.

Loads the text a profile's runs use (default: shakespeare_char at the paper profile,
the whole train split of about a million characters), then, for each order, times
:meth:`gni.ngram.KneserNey.fit` on the train split and
:meth:`~gni.ngram.KneserNey.cross_entropy` on val, and prints the seconds and the
nats per character. numpy's sort and search run on one core. Issue 26 asks for under a
minute at order 6.

    .venv/bin/python benchmarks/ngram_speed.py [--dataset shakespeare_char]
        [--profile paper] [--orders 6] [--modified]
"""

from __future__ import annotations

import argparse
import time

from gni.config import profile_config
from gni.data import TokenData
from gni.ngram import KneserNey


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="shakespeare_char")
    parser.add_argument("--profile", default="paper")
    parser.add_argument("--orders", type=int, nargs="+", default=[6])
    parser.add_argument("--modified", action="store_true", help="modified Kneser-Ney")
    args = parser.parse_args()

    config = profile_config(args.dataset, args.profile)
    data = TokenData(config.dataset, config.data_bytes, config.train_chars)
    train, val = data.splits["train"], data.splits["val"]
    print(
        f"{args.dataset} ({args.profile}): {len(train):,} train and {len(val):,} val "
        f"characters, vocabulary {data.vocab_size}"
    )
    for order in args.orders:
        t0 = time.perf_counter()
        model = KneserNey.fit(train, order, data.vocab_size, modified=args.modified)
        t1 = time.perf_counter()
        nats = model.cross_entropy(val)
        t2 = time.perf_counter()
        print(
            f"order {order}: fit {t1 - t0:.2f} s, val {t2 - t1:.2f} s, "
            f"total {t2 - t0:.2f} s; val {nats:.4f} nats/char"
        )


if __name__ == "__main__":
    main()
