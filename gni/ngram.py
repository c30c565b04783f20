"""The n-gram yardstick: interpolated Kneser-Ney character n-grams, in nats per character.

A model of order n predicts a character from the n - 1 before it. Its probability is
interpolated Kneser-Ney (Chen & Goodman 1999, eq. 17) with one discount D_k per order k:

    p_k(w | h) = max(c_k(h w) - D_k, 0) / c_k(h) + D_k N_k(h) / c_k(h) * p_{k-1}(w | h')

where h' is h without its first character, c_k(h) = sum_w c_k(h w), N_k(h) is the
number of characters w with c_k(h w) > 0, and p_0(w) = 1 / vocab_size is the uniform
distribution, so every character of the vocabulary has a probability above zero. The
highest order counts the n-grams of the text (c_n = raw counts); each lower order counts
the distinct characters seen before its k-gram (c_k(h w) = N1+(. h w), the continuation
counts). A context with c_k(h) = 0 (never seen) passes all its mass down: p_k = p_{k-1}.
Modified Kneser-Ney (Chen & Goodman, eq. 19) takes three discounts per order instead,
for the k-grams seen once, twice, and three times or more; D_k N_k(h) becomes the sum of
the discounts of the k-grams after h.

Counts are kept in sorted numpy arrays: a k-gram's code is the rank of its first k - 1
characters among the distinct (k - 1)-grams times vocab_size plus its last character,
so fitting is a few ``np.unique`` and evaluation a few ``np.searchsorted`` per order.

:func:`yardstick` fits the models on exactly the training characters of a profile's
runs and scores them on the same validation and test text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gni import GniError

__all__ = ["MAX_ORDER", "KneserNey", "yardstick"]

#: The highest order a model may have (characters of context plus one).
MAX_ORDER = 8
_FALLBACK_DISCOUNT = 0.5  # where Chen & Goodman's estimate is undefined (a tiny text)


@dataclass(frozen=True, eq=False)
class _Level:
    """The counts of one order k.

    ``codes`` are the distinct k-grams of the training text (sorted codes, see the module
    docstring); ``kept`` their c_k less its discount (0 for a lower order's k-gram seen
    only at the start of the text, whose c_k is 0). ``totals`` and ``backoff`` are c_k(h)
    and the sum of the discounts of the k-grams after h, indexed by the rank of the
    context h among the distinct (k - 1)-grams.
    """

    codes: np.ndarray
    kept: np.ndarray
    totals: np.ndarray
    backoff: np.ndarray


@dataclass(frozen=True, eq=False)
class KneserNey:
    """An interpolated Kneser-Ney character model of ``order`` n; build it with :meth:`fit`.

    ``discounts`` has one triple per order, lowest first: the discounts of the k-grams
    seen once, twice, and three times or more (all three equal unless ``modified``).
    Tokens are ids 0..vocab_size - 1.
    """

    order: int
    vocab_size: int
    discounts: tuple[tuple[float, float, float], ...]
    _levels: tuple[_Level, ...] = field(repr=False)

    @classmethod
    def fit(
        cls,
        tokens: Sequence[int] | np.ndarray,
        order: int,
        vocab_size: int,
        discount: float | None = None,
        modified: bool = False,
    ) -> KneserNey:
        """Count the n-grams of ``tokens`` (at least ``order`` ids below ``vocab_size``),
        1 <= order <= 8.

        ``discount``: a number in (0, 1), used at every order, or None: each order k gets
        Chen & Goodman's estimate D_k = n1 / (n1 + 2 n2), from the numbers of its k-grams
        with count 1 and 2 (raw counts at the highest order, continuation counts below),
        or 0.5 where n1 or n2 is 0 (a tiny text). ``modified``: modified Kneser-Ney, with
        Chen & Goodman's three estimates per order, D(1) = 1 - 2 D n2 / n1,
        D(2) = 2 - 3 D n3 / n2, D(3+) = 3 - 4 D n4 / n3 (D as above; the one estimate D
        for all three where n1..n4 are not all above 0 or D(c) is not in (0, c)); it
        takes discount=None.
        """
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
            raise GniError(f"vocab_size={vocab_size!r} is out of range; allowed: an integer >= 1")
        if isinstance(order, bool) or not isinstance(order, int) or not 1 <= order <= MAX_ORDER:
            raise GniError(f"order={order!r} is out of range; allowed: an integer 1..{MAX_ORDER}")
        x = _check_tokens(tokens, vocab_size, "tokens")
        if len(x) < order:
            raise GniError(
                f"tokens: {len(x)} characters; an order-{order} model needs at least {order}"
            )
        _check_discount(discount, modified)
        counted = []  # (distinct k-gram codes, their c_k, the number of (k-1)-grams), k = 1..n
        prefix_ids = np.zeros(len(x), dtype=np.int64)  # rank of the (k-1)-gram at each start
        n_contexts = 1  # distinct (k-1)-grams: one empty context at order 1
        previous: tuple[np.ndarray, np.ndarray, int] | None = None  # order k - 1's grams
        for k in range(1, order + 1):
            codes, first, ids = np.unique(  # the k-grams starting at 0..len(x) - k
                prefix_ids[: len(x) - k + 1] * vocab_size + x[k - 1 :],
                return_index=True,
                return_inverse=True,
            )
            if previous is not None:  # order k - 1 counts the distinct k-grams ending in each
                lower_codes, lower_ids, lower_contexts = previous
                continuations = np.bincount(lower_ids[first + 1], minlength=len(lower_codes))
                counted.append((lower_codes, continuations, lower_contexts))
            previous, prefix_ids, n_contexts = (codes, ids, n_contexts), ids, len(codes)
        codes, ids, contexts = previous
        counted.append((codes, np.bincount(ids, minlength=len(codes)), contexts))
        discounts = tuple(
            _estimate(counts, modified) if discount is None else (float(discount),) * 3
            for _, counts, _ in counted
        )
        levels = tuple(_level(*c, vocab_size, d) for c, d in zip(counted, discounts, strict=True))
        return cls(order, vocab_size, discounts, levels)

    def probabilities(self, context: Sequence[int] | np.ndarray) -> np.ndarray:
        """The distribution of the next character after ``context`` (vocab_size float64s).

        Only the last n - 1 characters count; a shorter context starts from the order it
        fills (its lower-order, continuation-count distribution), as in nltk.
        """
        x = _check_tokens(context, self.vocab_size, "context")
        h = x[max(len(x) - (self.order - 1), 0) :]
        p = np.full(self.vocab_size, 1.0 / self.vocab_size)
        for k in range(1, len(h) + 2):
            rank, level = self._rank(h[len(h) - k + 1 :]), self._levels[k - 1]
            if rank < 0 or level.totals[rank] == 0:
                continue  # an unseen context passes its mass down
            found, j = _find(level, rank * self.vocab_size + np.arange(self.vocab_size))
            kept = np.where(found, level.kept[j], 0.0)
            p = (kept + level.backoff[rank] * p) / level.totals[rank]
        return p

    def cross_entropy(self, tokens: Sequence[int] | np.ndarray) -> float:
        """Mean -log p(x_i | x_{i-n+1} .. x_{i-1}) over every character of ``tokens``, in
        nats per character.

        The first n - 1 characters are predicted from the shorter contexts they have (the
        first from none), as :meth:`probabilities` does.
        """
        y = _check_tokens(tokens, self.vocab_size, "tokens")
        if len(y) == 0:
            raise GniError("tokens: empty; the cross-entropy needs at least one character")
        return float(-np.mean(np.log(self._position_probabilities(y))))

    def _rank(self, gram: np.ndarray) -> int:
        """The rank of ``gram`` among the distinct len(gram)-grams of the text; -1 if unseen."""
        rank = 0
        for k, token in enumerate(gram, start=1):
            found, j = _find(self._levels[k - 1], np.array([rank * self.vocab_size + token]))
            if not found[0]:
                return -1
            rank = int(j[0])
        return rank

    def _position_probabilities(self, y: np.ndarray) -> np.ndarray:
        """p(y_i | the up to n - 1 characters before it), for every position i at once."""
        p = np.full(len(y), 1.0 / self.vocab_size)
        context = np.zeros(len(y), dtype=np.int64)  # rank of each position's context; -1: none
        for level in self._levels:
            seen = context >= 0
            rank = np.where(seen, context, 0)
            found, j = _find(level, rank * self.vocab_size + y)
            found &= seen
            total = np.where(seen, level.totals[rank], 0.0)
            use = total > 0  # a seen context: interpolate; otherwise p stays p_{k-1}
            kept = np.where(found, level.kept[j], 0.0)
            p = np.where(use, (kept + level.backoff[rank] * p) / np.where(use, total, 1.0), p)
            context = np.concatenate(([-1], np.where(found, j, -1)[:-1]))  # the k-gram before
        return p


def _check_tokens(tokens: Sequence[int] | np.ndarray, vocab_size: int, name: str) -> np.ndarray:
    """``tokens`` as a 1-d int64 array, each an id below ``vocab_size``."""
    x = np.asarray(tokens)
    if x.ndim != 1 or not (x.dtype.kind in "iu" or (x.size == 0 and x.dtype.kind == "f")):
        raise GniError(
            f"{name}: a {x.ndim}-d array of {x.dtype}; allowed: a 1-d sequence of integer ids"
        )
    x = x.astype(np.int64)
    bad = np.flatnonzero((x < 0) | (x >= vocab_size))
    if len(bad):
        raise GniError(
            f"{name}: id {x[bad[0]]} at position {bad[0]} is outside the vocabulary; "
            f"allowed: 0..{vocab_size - 1} (vocab_size={vocab_size})"
        )
    return x


def _check_discount(discount: float | None, modified: bool) -> None:
    """Raise GniError unless ``discount`` is None or a number in (0, 1), and None when
    ``modified``."""
    if not isinstance(modified, bool):
        raise GniError(f"modified={modified!r} is not valid; allowed: True or False")
    if discount is None:
        return
    if isinstance(discount, bool) or not isinstance(discount, int | float) or not 0 < discount < 1:
        raise GniError(
            f"discount={discount!r} is out of range; allowed: a number in (0, 1), or None "
            "(estimated per order)"
        )
    if modified:
        raise GniError(
            f"discount={discount!r} with modified=True; allowed: discount=None (modified "
            "Kneser-Ney estimates three discounts per order)"
        )


def _level(
    codes: np.ndarray,
    counts: np.ndarray,
    n_contexts: int,
    vocab_size: int,
    discounts: tuple[float, float, float],
) -> _Level:
    """An order's arrays from its distinct k-gram codes, their counts, the number of
    distinct (k - 1)-grams (its possible contexts) and its discounts."""
    discount = np.array((0.0, *discounts))[np.minimum(counts, 3)]  # 0 for a count of 0
    contexts = codes // vocab_size
    totals = np.bincount(contexts, weights=counts, minlength=n_contexts)
    backoff = np.bincount(contexts, weights=discount, minlength=n_contexts)
    return _Level(codes, counts - discount, totals, backoff)


def _find(level: _Level, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which k-gram ``codes`` the text holds, and their indices (0 where it does not)."""
    j = np.minimum(np.searchsorted(level.codes, codes), len(level.codes) - 1)
    return level.codes[j] == codes, j


def _estimate(counts: np.ndarray, modified: bool) -> tuple[float, float, float]:
    """Chen & Goodman's discounts from the counts of counts (see :meth:`KneserNey.fit`)."""
    n = np.array([np.sum(counts == c) for c in (1, 2, 3, 4)])  # n[c - 1]: k-grams of count c
    d = n[0] / (n[0] + 2 * n[1]) if n[0] and n[1] else _FALLBACK_DISCOUNT
    if modified and n.all():
        three = tuple(float(c - (c + 1) * d * n[c] / n[c - 1]) for c in (1, 2, 3))
        if all(0 < three[c - 1] < c for c in (1, 2, 3)):
            return three
    return (float(d),) * 3


def yardstick(
    dataset: str,
    profile: str,
    orders: Iterable[int] = range(1, MAX_ORDER + 1),
    discount: float | None = None,
    modified: bool = False,
) -> pd.DataFrame:
    """Kneser-Ney n-grams fit on a profile's training characters, scored like its models.

    The text is :class:`gni.data.TokenData` with the profile's ``data_bytes`` and
    ``train_chars``: the same training characters, validation and test text and
    vocabulary as the runs. Returns one row per order and split (val, and test where
    the dataset has one): columns order, split, nats_per_char. ``discount`` and
    ``modified`` are :meth:`KneserNey.fit`'s.
    """
    from gni.config import profile_config
    from gni.data import TokenData

    config = profile_config(dataset, profile)
    data = TokenData(config.dataset, config.data_bytes, config.train_chars)
    rows = []
    for order in orders:
        model = KneserNey.fit(data.splits["train"], order, data.vocab_size, discount, modified)
        for split in ("val", "test"):
            if split in data.splits:
                rows.append((order, split, model.cross_entropy(data.splits[split])))
    return pd.DataFrame(rows, columns=["order", "split", "nats_per_char"])


def fit_orders(
    tokens: Sequence[int] | np.ndarray,
    max_order: int,
    vocab_size: int,
    discount: float | None = None,
    modified: bool = False,
) -> list[KneserNey]:
    """``KneserNey.fit(tokens, k, vocab_size, discount, modified)`` for k = 1..max_order,
    from one pass of counting: max_order passes over the text, not max_order (max_order
    + 1) / 2.

    Below its highest order, an order-k model holds the continuation counts of orders
    1..k-1, which do not depend on k; only its highest order holds raw counts. So one
    pass counts, for every k, the raw k-grams and their continuation counts, and each
    model is the one :meth:`KneserNey.fit` gives (same discounts, same probabilities).
    """
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
        raise GniError(f"vocab_size={vocab_size!r} is out of range; allowed: an integer >= 1")
    if (
        isinstance(max_order, bool)
        or not isinstance(max_order, int)
        or not 1 <= max_order <= MAX_ORDER
    ):
        raise GniError(
            f"max_order={max_order!r} is out of range; allowed: an integer 1..{MAX_ORDER}"
        )
    x = _check_tokens(tokens, vocab_size, "tokens")
    if len(x) < max_order:
        raise GniError(
            f"tokens: {len(x)} characters; an order-{max_order} model needs at least {max_order}"
        )
    _check_discount(discount, modified)
    raw: list[tuple[np.ndarray, np.ndarray, int]] = []  # order k: codes, c_k, contexts
    continuation: list[tuple[np.ndarray, np.ndarray, int]] = []  # the same, N1+(. h w)
    prefix_ids = np.zeros(len(x), dtype=np.int64)  # rank of the (k-1)-gram at each start
    n_contexts = 1  # distinct (k-1)-grams: one empty context at order 1
    for k in range(1, max_order + 1):
        codes, first, ids = np.unique(
            prefix_ids[: len(x) - k + 1] * vocab_size + x[k - 1 :],
            return_index=True,
            return_inverse=True,
        )
        if raw:  # order k - 1's continuation counts: the distinct k-grams ending in each
            lower_codes, _, lower_contexts = raw[-1]
            counts = np.bincount(prefix_ids[first + 1], minlength=len(lower_codes))
            continuation.append((lower_codes, counts, lower_contexts))
        raw.append((codes, np.bincount(ids, minlength=len(codes)), n_contexts))
        prefix_ids, n_contexts = ids, len(codes)
    levels = [_fitted(*c, vocab_size, discount, modified) for c in continuation]
    models = []
    for k in range(1, max_order + 1):
        fitted = [*levels[: k - 1], _fitted(*raw[k - 1], vocab_size, discount, modified)]
        discounts = tuple(d for _, d in fitted)
        models.append(KneserNey(k, vocab_size, discounts, tuple(level for level, _ in fitted)))
    return models


def _fitted(
    codes: np.ndarray,
    counts: np.ndarray,
    n_contexts: int,
    vocab_size: int,
    discount: float | None,
    modified: bool,
) -> tuple[_Level, tuple[float, float, float]]:
    """An order's level and its discounts, as :meth:`KneserNey.fit` makes them."""
    d = _estimate(counts, modified) if discount is None else (float(discount),) * 3
    return _level(codes, counts, n_contexts, vocab_size, d), d
