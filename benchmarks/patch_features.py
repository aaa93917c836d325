"""Which patch features carry the phantom's compartments, and what k-means' ARI rewards.

The diagnosis behind docs/foundation.md ("Why the patch-cluster ARI favours raw intensities"):
on an embedded phantom cohort (``gliopet embed`` done), for the patches of every session on the
embedding map's grid, it scores several feature sets two ways, with the evaluation's own
functions:

* k-means ARI (`gliopet.foundation.evaluation.cluster_ari`, k = the session's number of true
  compartments), mean over sessions;
* the patch probe (`gliopet.foundation.probes.patch_probe_cv`, linear, cross-validated by
  subject), mean balanced accuracy over sessions.

Feature sets: the embedding; patch means of the static channels (``raw``); raw plus the
within-patch SD of each static channel (``raw + SD``: strictly more information about the
patch); raw plus the dynamic PET channels (``raw + kinetic``); the patch's grid position
(``position``). And one reference that is not a feature set: the **position atlas**, the
most frequent true compartment at the same patch position in every other session, scored as a
clustering with the same ARI (how much of the compartment the position alone gives, on the
template grid). Nothing is written into the dataset.

Usage::

    .venv/bin/python benchmarks/patch_features.py /tmp/fwork/tiny-both --seed 20261126

Prints one Markdown table (and writes it with ``--out FILE``).
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from gliopet.config import Config, load_config
from gliopet.foundation.data import LearningGridDataset
from gliopet.foundation.evaluation import cluster_ari, patch_means
from gliopet.foundation.probes import PatchSet, patch_probe_cv
from gliopet.foundation.representation import session_patches

SETS = ("embedding", "raw", "raw + SD", "raw + kinetic", "position")


def session_features(bids_dir: Path, dataset: LearningGridDataset, i: int,
                     config: Config) -> dict:
    """The labelled patches of session `i` (`representation.session_patches`) with two more
    feature sets: raw + the within-patch SD of each static channel, and the patch position."""
    item = dataset.sessions[i]
    sample = dataset[i]
    found = session_patches(bids_dir, (item.subject, item.session), sample, config)
    brain = np.asarray(sample["brain_mask"][0], bool)
    index, keep, grid = found["index"], found["keep"], found["grid"]
    n = int(np.prod(grid.shape))
    static = np.concatenate([np.asarray(v) for m, v in sample["images"].items()
                             if m != "pet_dynamic"])
    mean = found["features"]["raw"]
    sd = np.sqrt(np.maximum(patch_means(static**2, brain, index, n)[keep] - mean**2, 0))
    position = np.indices(grid.shape).reshape(3, -1).T[keep]
    sets = {**found["features"], "raw + SD": np.hstack([mean, sd]),
            "position": position.astype(float)}
    return {"subject": item.subject, "labels": found["labels"], "sets": sets,
            "positions": [tuple(p) for p in position]}


def atlas_ari(sessions: list[dict]) -> float:
    """Mean ARI of the leave-one-session-out position atlas against each session's truth."""
    from sklearn.metrics import adjusted_rand_score

    counts: dict[tuple, Counter] = defaultdict(Counter)
    for s in sessions:
        for p, label in zip(s["positions"], s["labels"], strict=True):
            counts[p][int(label)] += 1
    scores = []
    for s in sessions:
        predicted = []
        for p, label in zip(s["positions"], s["labels"], strict=True):
            others = counts[p].copy()
            others[int(label)] -= 1
            others = +others
            predicted.append(others.most_common(1)[0][0] if others else -1)
        scores.append(adjusted_rand_score(s["labels"], predicted))
    return float(np.mean(scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bids_dir", type=Path)
    parser.add_argument("--seed", type=int, default=load_config().seed)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    config = load_config()
    dataset = LearningGridDataset(args.bids_dir, config=config)
    sessions = [session_features(args.bids_dir, dataset, i, config)
                for i in range(len(dataset))]
    labels = np.concatenate([s["labels"] for s in sessions])
    values, counts = np.unique(labels, return_counts=True)
    share = ", ".join(f"{v}: {c / labels.size:.1%}" for v, c in zip(values, counts, strict=True))
    lines = [f"Cohort {args.bids_dir.name}: {len(sessions)} sessions, {labels.size} labelled "
             f"patches (share by true label: {share}); seed {args.seed}.", "",
             "| patch features | k-means ARI | patch-probe balanced accuracy |", "|---|---|---|"]
    for name in SETS:
        if not all(name in s["sets"] for s in sessions):
            continue
        ari = np.mean([cluster_ari(s["sets"][name], s["labels"], seed=args.seed)
                       for s in sessions])
        probe = patch_probe_cv([PatchSet(s["subject"], s["sets"][name], s["labels"])
                                for s in sessions], seeds=[args.seed], what=name)
        lines.append(f"| {name} | {ari:.3f} | {np.nanmean(probe.to_numpy()):.3f} |")
    lines.append(f"| position atlas (leave one session out) | {atlas_ari(sessions):.3f} | - |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
