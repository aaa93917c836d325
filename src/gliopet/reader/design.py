"""The reading design: which reader reads which cases, in which order, in each arm.

Fully crossed: every reader reads every case in every arm. Split-plot: readers and cases are
split into the same number of groups, and a reader reads (in every arm) only the cases of their
group. The order is randomised and counterbalanced: one seeded random permutation of a
reader's cases is rotated by an offset that spreads the readers evenly over the positions, every
second reader reads it backwards (with as many readers as cases, an even number, every case sits
once at every position over the readers: a Latin square), and each later arm
starts half-way round, so that no case sits at the same position for a reader in two arms
(with more than one case) and position effects average out over readers.
"""

from __future__ import annotations

import numpy as np


def groups_of(n_items: int, n_groups: int, rng: np.random.Generator) -> list[int]:
    """A balanced random group label (0 .. n_groups-1) for each of `n_items` items."""
    labels = np.arange(n_items) % n_groups
    return [int(g) for g in rng.permutation(labels)]


def reading_order(cases: list[int], reader_index: int, n_readers: int, arm_index: int,
                  rng_seed: int) -> list[int]:
    """The case order of one reader in one arm (see the module docstring).

    `rng_seed` fixes the base permutation (the same for every reader of a group), so the
    counterbalancing holds across readers.
    """
    n = len(cases)
    if n == 0:
        return []
    base = [cases[i] for i in np.random.default_rng(rng_seed).permutation(n)]
    offset = (reader_index * n // max(n_readers, 1) + arm_index * (n // 2)) % n
    step = -1 if reader_index % 2 else 1
    return [base[(offset + step * p) % n] for p in range(n)]


def assignments(case_ids: list[int], reader_ids: list[int], arms: list[str], design: str,
                n_groups: int, seed: int) -> list[tuple[int, int, str, int, int]]:
    """(reader id, case id, arm, position, group) of every reading of the study."""
    rng = np.random.default_rng(seed)
    groups = 1 if design == "crossed" else max(1, min(n_groups, len(reader_ids), len(case_ids)))
    case_group = groups_of(len(case_ids), groups, rng)
    reader_group = groups_of(len(reader_ids), groups, rng)
    out = []
    for g in range(groups):
        cases = [c for c, cg in zip(case_ids, case_group, strict=True) if cg == g]
        readers = [r for r, rg in zip(reader_ids, reader_group, strict=True) if rg == g]
        for i, reader in enumerate(readers):
            for a, arm in enumerate(arms):
                order = reading_order(cases, i, len(readers), a, seed + g)
                out += [(reader, case, arm, p, g) for p, case in enumerate(order)]
    return out
