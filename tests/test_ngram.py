"""The Kneser-Ney yardstick (gni.ngram): nltk's numbers, normalisation, hand cases, input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from nltk.lm import KneserNeyInterpolated
from nltk.lm.preprocessing import padded_everygram_pipeline

from gni import GniError
from gni.ngram import MAX_ORDER, KneserNey, yardstick

TEXT = "the cat sat on the mat; the dog sat on the log. a cat and a dog: that is all."
# held out: contexts TEXT never has ("tac", "god"), and characters ("z", "q", "!"), which
# are ids of the vocabulary that TEXT never uses
HELD_OUT = "a dog is on the cat mat. that log is all the dog has: zq! tac a god."
VOCAB = sorted(set(TEXT + HELD_OUT))


def ids(text: str) -> list[int]:
    return [VOCAB.index(c) for c in text]


def contexts(tokens: list, longest: int) -> set[tuple]:
    """Every context of 0..longest tokens that precedes a position of ``tokens``."""
    return {
        tuple(tokens[i - length : i])
        for i in range(len(tokens) + 1)
        for length in range(min(i, longest) + 1)
    }


@pytest.mark.parametrize(("order", "discount"), [(3, 0.1), (4, 0.1), (6, 0.1), (4, 0.75)])
def test_nltk_kneser_ney_interpolated_gives_the_same_probabilities(order, discount):
    """KneserNey reproduces nltk.lm.KneserNeyInterpolated(order, discount) to 1e-12.

    nltk is trained on TEXT as one sentence padded by ``padded_everygram_pipeline``
    (order - 1 "<s>" before, order - 1 "</s>" after); KneserNey on the same padded
    sequence, "<s>" and "</s>" two more symbols of its vocabulary, with the same
    discount D at every order. Compared: p(w | h), nltk's ``score(w, h)`` and
    ``probabilities(h)[w]``, for every symbol w (nltk's "<UNK>" aside) and every
    context h of 0..n-1 symbols in the padded text, plus unseen contexts.

    Where the conventions coincide: nltk's lowest order is the continuation unigram
    N1+(. w) / N1+(. .), undiscounted, with no uniform distribution under it. With
    order >= 3 every one of the V symbols follows another ("<s>" follows "<s>"), and then
    KneserNey's lowest order, (N1+(. w) - D) / N1+(. .) + D V / N1+(. .) / V, is that
    same unigram. Contexts of "<s>" alone are left out: there nltk counts the followers
    of a lower-order context from raw counts, where the "<s> <s>" padding has none before
    it, and its distribution sums to 1.1 or 1.01; where the two differ, the test checks
    that nltk's sum is not 1. Measured: max |difference| 1.1e-16 over 18,221 probabilities
    (these four cases and order 8 at D = 0.5).
    """
    train, vocabulary = padded_everygram_pipeline(order, [list(TEXT)])
    reference = KneserNeyInterpolated(order, discount=discount)
    reference.fit(train, vocabulary)
    symbols = [*sorted(set(TEXT)), "<s>", "</s>"]
    padded = ["<s>"] * (order - 1) + list(TEXT) + ["</s>"] * (order - 1)
    model = KneserNey.fit([symbols.index(s) for s in padded], order, len(symbols), discount)
    unseen = {c[-(order - 1) :] for c in (("t", "a", "c"), ("g", "o", "d"), ("</s>", "t"))}
    compared = 0
    for h in sorted(contexts(padded, order - 1) | unseen):
        theirs = np.array([reference.score(w, h) for w in symbols])
        ours = model.probabilities([symbols.index(s) for s in h])
        same = np.abs(ours - theirs).max() < 1e-12
        if h and set(h) == {"<s>"}:
            assert same or abs(theirs.sum() - 1) > 1e-3, h
            continue
        assert same, (h, ours, theirs)
        compared += 1
    assert compared > 15


@pytest.mark.parametrize("order", range(1, MAX_ORDER + 1))
@pytest.mark.parametrize(
    ("discount", "modified"), [(None, False), (0.3, False), (0.9, False), (None, True)]
)
def test_probabilities_sum_to_one_for_every_context(order, discount, modified):
    """Over every context of the training text and of held-out text, which has contexts
    and characters the training text never has; trained on TEXT and TEXT reversed, whose
    counts of counts give modified Kneser-Ney three different discounts at orders 2, 3."""
    model = KneserNey.fit(ids(TEXT + TEXT[::-1]), order, len(VOCAB), discount, modified)
    for h in contexts(ids(TEXT + HELD_OUT), order) | contexts(ids("zq!z qz! !!"), order):
        p = model.probabilities(h)
        assert p.shape == (len(VOCAB),) and p.min() > 0, h
        assert abs(p.sum() - 1) < 1e-12, h


def test_order_one_is_the_interpolated_unigram():
    """p(w) = max(c(w) - D, 0) / N + D T / N / V, with T the distinct characters seen."""
    vocab_size, d = 6, 0.4
    tokens = [0, 1, 4, 0, 2, 0, 3, 0, 1, 4, 0]  # a b r a c a d a b r a
    counts = np.bincount(tokens, minlength=vocab_size)
    n, seen = len(tokens), np.count_nonzero(counts)
    expected = np.maximum(counts - d, 0) / n + d * seen / n / vocab_size
    model = KneserNey.fit(tokens, 1, vocab_size, d)
    np.testing.assert_allclose(model.probabilities([]), expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(model.probabilities([4, 0]), expected, rtol=0, atol=1e-15)
    assert model.probabilities([])[5] == pytest.approx(0.4 * 5 / 11 / 6)  # never seen


def test_modified_order_one_has_chen_and_goodmans_three_discounts():
    """Counts 1, 1, 1, 1, 2, 2, 3, 4 (and one character unseen): n1..n4 = 4, 2, 1, 1,
    D = 4 / (4 + 2 * 2) = 0.5, D(1) = 1 - 2 D 2 / 4, D(2) = 2 - 3 D 1 / 2, D(3+) = 3 - 4 D."""
    counts = [1, 1, 1, 1, 2, 2, 3, 4, 0]
    tokens = [w for w, c in enumerate(counts) for _ in range(c)]
    model = KneserNey.fit(tokens, 1, len(counts), modified=True)
    assert model.discounts == ((0.5, 1.25, 1.0),)
    subtracted = np.array([0.5, 0.5, 0.5, 0.5, 1.25, 1.25, 1.0, 1.0, 0.0])
    expected = (np.array(counts) - subtracted) / 15 + 6.5 / 15 / 9  # 15 characters
    np.testing.assert_allclose(model.probabilities([]), expected, rtol=0, atol=1e-15)


def test_a_deterministic_next_character_gets_almost_all_the_probability():
    model = KneserNey.fit([0, 1, 2] * 50, 3, 4)
    for context, following in (([0, 1], 2), ([1, 2], 0), ([2, 0], 1)):
        assert model.probabilities(context)[following] > 0.99
    assert model.cross_entropy([0, 1, 2] * 100) < 0.03  # the first two have short contexts


@pytest.mark.parametrize("order", [1, 2, 4, MAX_ORDER])
@pytest.mark.parametrize("modified", [False, True])
def test_cross_entropy_is_the_mean_negative_log_probability(order, modified):
    """The first n - 1 characters are predicted from the shorter contexts they have."""
    model = KneserNey.fit(ids(TEXT + TEXT[::-1]), order, len(VOCAB), modified=modified)
    held_out = ids(HELD_OUT)
    logs = [
        -math.log(model.probabilities(held_out[max(i - order + 1, 0) : i])[held_out[i]])
        for i in range(len(held_out))
    ]
    assert model.cross_entropy(held_out) == pytest.approx(np.mean(logs), rel=1e-12)
    assert model.cross_entropy(np.array(held_out, dtype=np.uint16)) == model.cross_entropy(held_out)


def test_the_default_discounts_are_chen_and_goodmans_estimates():
    tokens = [0, 1, 2] * 50 + [0, 2, 1, 0, 0, 3]
    model = KneserNey.fit(tokens, 2, 4)
    # bigrams: 01 x50, 12 x50, 20 x49, 02, 21, 10, 00, 03: n1 = 5, n2 = 0 -> 0.5
    # continuation unigrams: 0 after 2, 1, 0 (3); 1 after 0, 2 (2); 2 after 1, 0 (2);
    # 3 after 0 (1): n1 = 1, n2 = 2 -> 1 / (1 + 4)
    assert model.discounts == ((0.2,) * 3, (0.5,) * 3)


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda: KneserNey.fit([0, 1], 0, 2), "order=0"),
        (lambda: KneserNey.fit([0, 1] * 9, 9, 2), "order=9"),
        (lambda: KneserNey.fit([0, 1], True, 2), "order=True"),
        (lambda: KneserNey.fit([0, 1, 2], 1, 2), "id 2 at position 2"),
        (lambda: KneserNey.fit([0, -1], 1, 2), "id -1 at position 1"),
        (lambda: KneserNey.fit([0.0, 1.0], 1, 2), "float64"),
        (lambda: KneserNey.fit([0, 1], 3, 2), "2 characters"),
        (lambda: KneserNey.fit([0, 1], 1, 0), "vocab_size=0"),
        (lambda: KneserNey.fit([0, 1], 2, 2, 0.0), "discount=0.0"),
        (lambda: KneserNey.fit([0, 1], 2, 2, 1), "discount=1"),
        (lambda: KneserNey.fit([0, 1], 2, 2, 1.5), "discount=1.5"),
        (lambda: KneserNey.fit([0, 1], 2, 2, math.nan), "discount=nan"),
        (lambda: KneserNey.fit([0, 1], 2, 2, [0.5, 0.5]), "discount=[0.5, 0.5]"),
        (lambda: KneserNey.fit([0, 1], 2, 2, 0.5, modified=True), "discount=0.5 with modified"),
        (lambda: KneserNey.fit([0, 1], 2, 2, modified="yes"), "modified='yes'"),
        (lambda: KneserNey.fit([0, 1], 2, 2).probabilities([0, 5]), "id 5 at position 1"),
        (lambda: KneserNey.fit([0, 1], 2, 2).cross_entropy([3]), "id 3 at position 0"),
        (lambda: KneserNey.fit([0, 1], 2, 2).cross_entropy([]), "empty"),
    ],
)
def test_bad_input_raises_one_line_naming_the_value_and_what_is_allowed(call, named):
    with pytest.raises(GniError) as error:
        call()
    message = str(error.value)
    assert named in message and "\n" not in message
    assert "allowed" in message or "needs" in message


def test_yardstick_scores_a_profiles_validation_text():
    table = yardstick("shakespeare_char", "cpu", orders=[1, 5])
    assert list(table.columns) == ["order", "split", "nats_per_char"]
    assert table[["order", "split"]].values.tolist() == [[1, "val"], [5, "val"]]  # no test split
    unigram, five = table["nats_per_char"]
    assert 3.2 < unigram < 3.6 and 2.2 < five < 2.6  # 15,000 training characters
