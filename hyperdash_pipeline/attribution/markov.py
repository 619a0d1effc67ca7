"""First-order Markov chain removal effects, solved from transition counts aggregated in SQL.

States are (start), the touches (channels or campaigns), and the absorbing (conversion) / (null).
With N = (I - Q)^-1 the fundamental matrix over transient states and x = N r the probability of
reaching (conversion) from each state, removing state s (its visits end in (null)) leaves
x'_start = x_start - h(start, s) * x_s, where h(start, s) = N[start, s] / N[s, s] is the chance to
visit s at all. So removal_effect(s) = h(start, s) * x_s / x_start: one matrix inverse for all states.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

START = "(start)"
CONVERSION = "(conversion)"
NULL = "(null)"


@dataclass(frozen=True)
class ChainResult:
    conversion_probability: float
    removal_effects: dict[str, float]


def removal_effects(transitions: Mapping[tuple[str, str], int]) -> ChainResult:
    """Removal effect of every touch state of the chain given by `(from, to) -> count`."""
    import numpy as np  # here, not at the top: every run worker loads this module, few runs use numpy

    states = sorted({s for pair in transitions for s in pair if s not in (START, CONVERSION, NULL)})
    if not states:
        return ChainResult(0.0, {})
    index = {s: i + 1 for i, s in enumerate(states)}
    index[START] = 0
    size = len(states) + 1
    counts = np.zeros((size, size))
    to_conversion = np.zeros(size)
    out = np.zeros(size)
    for (source, target), count in transitions.items():
        i = index[source]
        out[i] += count
        if target == CONVERSION:
            to_conversion[i] += count
        elif target != NULL:
            counts[i, index[target]] += count
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.where(out[:, None] > 0, counts / out[:, None], 0.0)
        r = np.where(out > 0, to_conversion / out, 0.0)
    fundamental = np.linalg.inv(np.eye(size) - q)
    reach = fundamental @ r
    p_start = float(reach[0])
    if p_start <= 0.0:
        return ChainResult(0.0, dict.fromkeys(states, 0.0))
    effects = {}
    for state in states:
        k = index[state]
        visit = fundamental[0, k] / fundamental[k, k]
        effects[state] = float(min(max(visit * reach[k] / p_start, 0.0), 1.0))
    return ChainResult(p_start, effects)


def split(total: float, effects: Mapping[str, float]) -> dict[str, float]:
    """`total` shared in proportion to the removal effects (all zero -> all zero)."""
    weight = sum(effects.values())
    if weight <= 0.0:
        return dict.fromkeys(effects, 0.0)
    return {state: total * effect / weight for state, effect in effects.items()}
