"""Properties of the reference attribution models and of the Markov solver (no database)."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperdash_pipeline.attribution import markov
from hyperdash_pipeline.attribution.models import MODELS, Touch, build_path, credits

CONVERSION = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
FALLBACK = Touch(CONVERSION, "organic")

touches_st = st.lists(
    st.builds(
        Touch,
        timestamp=st.integers(min_value=0, max_value=45 * 24 * 60).map(lambda m: CONVERSION - timedelta(minutes=m)),
        channel=st.sampled_from(["meta", "google", "email", "direct"]),
        campaign_id=st.one_of(st.none(), st.sampled_from(["c1", "c2", "c3"])),
        ad_id=st.one_of(st.none(), st.sampled_from(["a1", "a2"])),
    ),
    max_size=10,
)


@given(touches_st, st.booleans(), st.sampled_from(MODELS))
def test_credits_sum_to_one_and_are_shares(touches: list[Touch], collapse: bool, model: str) -> None:
    path = build_path(touches, CONVERSION, FALLBACK, collapse=collapse)
    shares = credits(path, model, CONVERSION)
    assert len(shares) == len(path)
    assert abs(sum(shares) - 1.0) <= 1e-9
    assert all(0.0 <= s <= 1.0 for s in shares)


@given(touches_st, st.booleans())
def test_path_is_windowed_sorted_and_collapsed(touches: list[Touch], collapse: bool) -> None:
    path = build_path(touches, CONVERSION, FALLBACK, collapse=collapse)
    inside = [t for t in touches if CONVERSION - timedelta(days=30) <= t.timestamp <= CONVERSION]
    if not inside:
        assert path == [FALLBACK]
        return
    assert [t.timestamp for t in path] == sorted(t.timestamp for t in path)
    assert set(path) <= set(inside)
    if collapse:
        assert all((a.channel, a.campaign) != (b.channel, b.campaign) for a, b in itertools.pairwise(path))
    else:
        assert len(path) == len(inside)


@given(touches_st, st.randoms(use_true_random=False), st.sampled_from(MODELS))
def test_result_independent_of_input_order(touches: list[Touch], rnd: random.Random, model: str) -> None:
    shuffled = list(touches)
    rnd.shuffle(shuffled)
    first = build_path(touches, CONVERSION, FALLBACK)
    second = build_path(shuffled, CONVERSION, FALLBACK)
    assert first == second
    assert credits(first, model, CONVERSION) == credits(second, model, CONVERSION)


@given(st.integers(min_value=1, max_value=30))
def test_first_last_linear_position_rules(n: int) -> None:
    path = [Touch(CONVERSION - timedelta(hours=n - i), "meta", f"c{i}") for i in range(n)]
    assert credits(path, "first_touch", CONVERSION) == [1.0] + [0.0] * (n - 1)
    assert credits(path, "last_touch", CONVERSION) == [0.0] * (n - 1) + [1.0]
    assert credits(path, "linear", CONVERSION) == pytest.approx([1 / n] * n)
    position = credits(path, "position_based", CONVERSION)
    if n == 1:
        assert position == [1.0]
    elif n == 2:
        assert position == [0.5, 0.5]
    else:
        assert position[0] == position[-1] == 0.4
        assert position[1:-1] == pytest.approx([0.2 / (n - 2)] * (n - 2))


@given(
    st.lists(st.integers(min_value=0, max_value=30 * 24), min_size=1, max_size=8, unique=True),
    st.floats(min_value=0.5, max_value=30),
)
def test_time_decay_monotone_in_age_and_halves_per_half_life(hours: list[int], half_life: float) -> None:
    path = [Touch(CONVERSION - timedelta(hours=h), "meta", f"c{h}") for h in sorted(hours, reverse=True)]
    shares = credits(path, "time_decay", CONVERSION, half_life_days=half_life)
    assert all(a < b for a, b in itertools.pairwise(shares))  # older touches get less
    ages = [(CONVERSION - t.timestamp).total_seconds() / 86400 for t in path]
    for i in range(len(path) - 1):
        assert shares[i] / shares[i + 1] == pytest.approx(2 ** (-(ages[i] - ages[i + 1]) / half_life))


def test_unknown_model_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown attribution model 'shapley'"):
        credits([FALLBACK], "shapley", CONVERSION)


def _transitions(paths: list[tuple[str, bool]]) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for path, converted in paths:
        states = [markov.START, *path, markov.CONVERSION if converted else markov.NULL]
        for a, b in itertools.pairwise(states):
            counts[(a, b)] = counts.get((a, b), 0) + 1
    return counts


def _conversion_probability(counts: dict[tuple[str, str], int], removed: str | None) -> float:
    """Brute force: solve the absorbing chain with `removed` redirected to (null)."""
    states = sorted({s for pair in counts for s in pair} - {markov.CONVERSION, markov.NULL, removed})
    index = {s: i for i, s in enumerate(states)}
    a = np.eye(len(states))
    b = np.zeros(len(states))
    out: dict[str, int] = {}
    for (source, _target), n in counts.items():
        out[source] = out.get(source, 0) + n
    for (source, target), n in counts.items():
        if source == removed:
            continue
        p = n / out[source]
        if target == markov.CONVERSION:
            b[index[source]] += p
        elif target in index:
            a[index[source], index[target]] -= p
    return float(np.linalg.solve(a, b)[index[markov.START]])


@settings(max_examples=60)
@given(st.lists(st.tuples(st.text(alphabet="ABCD", min_size=1, max_size=6), st.booleans()), min_size=1, max_size=20))
def test_removal_effects_match_brute_force(paths: list[tuple[str, bool]]) -> None:
    counts = _transitions(paths)
    result = markov.removal_effects(counts)
    full = _conversion_probability(counts, None)
    assert result.conversion_probability == pytest.approx(full, abs=1e-9)
    for state, effect in result.removal_effects.items():
        expected = 0.0 if full == 0 else 1 - _conversion_probability(counts, state) / full
        assert effect == pytest.approx(expected, abs=1e-9)
    customers = sum(converted for _, converted in paths)
    assert sum(markov.split(customers, result.removal_effects).values()) == pytest.approx(customers)


def test_vignette_removal_effects_by_hand() -> None:
    """ChannelAttribution vignette paths (all converting): removing A leaves nothing (1.0); removing B
    leaves only A -> A -> conversion flows: 3/8 convert, 2/8 loop from A, so P = 0.5 (effect 0.5)."""
    result = markov.removal_effects(_transitions([("ABABBA", True), ("ABBAA", True), ("AA", True)]))
    assert result.removal_effects == {"A": pytest.approx(1.0), "B": pytest.approx(0.5)}
    assert markov.split(3, result.removal_effects) == {"A": pytest.approx(2.0), "B": pytest.approx(1.0)}
