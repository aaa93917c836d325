"""Site harmonisation for the folds: ComBat of `gliopet.radiomics.harmonize`.

The classifier needs an object with ``fit(X, sites=)`` and ``transform(X, sites=)`` (X:
patients x features); a new one is created for every fold and fitted on that fold's training
rows only (`gliopet.classify.selection.FoldFeatures`). Sites of the test rows that the training
rows also hold get the fitted site effects. A site absent from the training rows (external
validation) is harmonised with its own location and scale estimated from its rows at test time,
without labels (``ComBat(unseen_site="own")``, documented in `gliopet.radiomics.harmonize`):
nothing of that site is used before its test.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from gliopet.errors import InputError


def combat_factory() -> Callable[[], Any]:
    """A picklable callable returning a new unfitted ComBat transformer.

    Raises
    ------
    InputError
        When this installation has no `gliopet.radiomics.harmonize.ComBat`.
    """
    try:
        from gliopet.radiomics.harmonize import ComBat
    except ImportError:
        raise InputError("--harmonize needs the ComBat transformer of "
                         "gliopet.radiomics.harmonize, which this installation does not have",
                         fix="run without --harmonize") from None
    return partial(ComBat, unseen_site="own")
