"""Reading the phantom's stored truth as an evaluation reads it.

The analysis stages never see the truth; the evaluations (realism report, classifier Bayes
ceilings, representation evaluation) compare against it. They all read the per-session
``*_latent.json`` files (`gliopet.io.derivatives.TRUTH_LATENT`) through this one function, so the
file layout and its error message have one home.
"""

from __future__ import annotations

import json
from pathlib import Path

from gliopet.errors import InputError
from gliopet.io import derivatives as d
from gliopet.io.bids_names import parse_entities


def true_posteriors(bids_dir: str | Path, key: str) -> dict[tuple[str, str], float]:
    """(subject, session) labels (no ``sub-``/``ses-`` prefix) -> the stored true posterior
    ``session.posteriors[key]`` of every phantom session that has one (empty without truth).

    `InputError` names a truth file that cannot be read.
    """
    found = {}
    for path in d.find_every_session(Path(bids_dir), d.TRUTH_LATENT):
        try:
            latent = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"unreadable truth file ({exc.__class__.__name__})", path=path,
                             fix="re-simulate the cohort") from None
        value = (latent.get("session", {}).get("posteriors") or {}).get(key)
        if value is not None:
            entities = parse_entities(path.name)
            found[(entities["sub"], entities.get("ses", ""))] = float(value)
    return found
