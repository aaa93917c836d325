"""The coding of the binary labels of participants.tsv / sessions.tsv (and so of cohort.tsv).

One table for every stage that reads a label (WP2's association study, WP3's classifiers): the
value coded 1, the values coded 0 (the spellings of `gliopet simulate` and of BIDS datasets),
words for tables and, where the phantom stores one, the name of the true posterior in its
``*_latent.json`` (`gliopet.io.truth`). Any other value (``n/a``, unknown) is missing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LabelCoding:
    """A binary label: its positive value, the values read as negative, words, posterior."""

    positive: str
    negatives: tuple[str, ...]
    meaning: str
    posterior: str | None = None


#: Binary labels (column -> coding).
LABELS = {
    "outcome": LabelCoding("progression", ("treatment_change", "treatment-related change",
                                           "pseudoprogression", "radionecrosis"),
                           "progression (1) vs treatment-related change (0)", "progression"),
    "IDH": LabelCoding("mutant", ("wildtype", "wild-type"), "IDH-mutant (1) vs wildtype (0)",
                       "IDH_mutant"),
    "codeletion_1p19q": LabelCoding("codeleted", ("intact", "non-codeleted", "not codeleted"),
                                    "1p/19q codeleted (1) vs intact (0)", "codeleted_1p19q"),
    "MGMT": LabelCoding("methylated", ("unmethylated",),
                        "MGMT promoter methylated (1) vs unmethylated (0)"),
    "CDKN2AB": LabelCoding("deleted", ("intact",),
                           "CDKN2A/B homozygous deletion (1) vs intact (0)"),
    "null_marker": LabelCoding("positive", ("negative",), "null marker (drawn independently of "
                                                          "everything; a check of the error "
                                                          "rate)"),
}
