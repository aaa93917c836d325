"""Site harmonisation for the folds: the ComBat transformer of `gliopet.radiomics.harmonize`.

The classifier only needs an object with ``fit(X, sites)`` and ``transform(X, sites)`` (X:
patients x features); it is created unfitted for every fold and fitted on that fold's training
rows only (`gliopet.classify.selection.FoldFeatures`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gliopet.errors import InputError

_NAMES = ("ComBat", "ComBatHarmonizer", "Combat")


def combat_factory() -> Callable[[], Any]:
    """A callable returning a new unfitted ComBat transformer.

    Raises
    ------
    InputError
        When this installation has no ComBat transformer in `gliopet.radiomics.harmonize`.
    """
    try:
        from gliopet.radiomics import harmonize
    except ImportError:
        raise InputError("--harmonize needs the ComBat transformer of "
                         "gliopet.radiomics.harmonize, which this version does not have",
                         fix="run without --harmonize") from None
    for name in _NAMES:
        cls = getattr(harmonize, name, None)
        if cls is not None and hasattr(cls, "fit") and hasattr(cls, "transform"):
            return cls
    raise InputError("gliopet.radiomics.harmonize has no ComBat transformer with fit/transform "
                     f"(looked for {', '.join(_NAMES)})", fix="run without --harmonize")
