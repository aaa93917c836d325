"""MR series classification (T1w, contrast T1w, T2w, FLAIR) and the user's series map.

Rules, in order (the first that applies wins):

1. the ``--series-map`` entry for the SeriesInstanceUID, then the first SeriesDescription pattern
   that matches (shell wildcards, case-insensitive);
2. localizers (ImageType ``LOCALIZER``; description ``localizer``, ``scout``, ``survey``,
   ``3-plane``) are skipped; diffusion, perfusion and derived maps are not recognised;
3. FLAIR: description ``flair``/``dark-fluid``/``tirm``, SequenceName ``*tir`` with TI >= 1500 ms,
   or inversion recovery with TI >= 1500 ms and TE >= 60 ms;
4. T2w: description ``t2`` (and not FLAIR), or spin echo with TE >= 60 ms and TR >= 2000 ms;
5. T1w: description ``t1``, ``mprage``, ``spgr``, ``bravo``, ``tfl``, ``vibe``, SequenceName
   ``*tfl`` (MPRAGE), or TE < 30 ms with TR < 1000 ms (SE/GR) or an inversion time < 1500 ms
   (MPRAGE);
6. a T1w becomes ``ce-gadolinium_T1w`` when ``ContrastBolusAgent`` is set or the description
   says ``post``, ``gd``, ``gad``, ``+c``, ``contrast``, ``ce`` (and not ``pre``).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset

from gliopet.errors import InputError
from gliopet.io.dicom.pet import SkipSeries

#: Suffixes a series map may give.
MAP_TARGETS = ("T1w", "ce-gadolinium_T1w", "T2w", "FLAIR", "pet", "skip")

_LOCALIZER = re.compile(r"localizer|localiser|scout|survey|3[- ]?plane|\bloc\b|aahead", re.I)
_NOT_ANATOMY = re.compile(
    r"\b(adc|dwi|diff|dti|trace|perf|dsc|dce|asl|swi|fa|tracew|mip|ep2d)", re.I
)
_FLAIR = re.compile(r"flair|dark[-_ ]?fluid|tirm", re.I)
_T2 = re.compile(r"\bt2|t2w|t2_|_t2|tse|haste", re.I)
_T1 = re.compile(r"\bt1|t1w|t1_|_t1|mprage|mp-rage|spgr|bravo|tfl|vibe|fspgr", re.I)
_POST = re.compile(r"post|\bgd\b|gado|\bgad\b|\+c|\+gd|contrast|\bce\b|_ce\b|\bc\+", re.I)
_PRE = re.compile(r"\bpre\b|_pre\b|pre[-_ ]?contrast|nativ|native", re.I)


@dataclass
class SeriesMap:
    """User overrides: SeriesInstanceUID -> suffix, and SeriesDescription patterns -> suffix."""

    by_uid: dict[str, str] = field(default_factory=dict)
    patterns: list[tuple[str, str]] = field(default_factory=list)
    source: Path | None = None

    def lookup(self, series_uid: str, description: str) -> str | None:
        """The suffix the map gives this series, or None."""
        if series_uid in self.by_uid:
            return self.by_uid[series_uid]
        for pattern, suffix in self.patterns:
            if fnmatch.fnmatchcase(description.lower(), pattern.lower()):
                return suffix
        return None


def load_series_map(path: str | Path | None) -> SeriesMap:
    """Read a series map: YAML ``{pattern or UID: suffix}`` or a TSV (``match``, ``suffix``).

    A key made only of digits and dots is a SeriesInstanceUID; any other key is a
    SeriesDescription pattern (``*`` and ``?`` wildcards, case-insensitive). Suffixes:
    ``T1w``, ``ce-gadolinium_T1w``, ``T2w``, ``FLAIR``, ``pet`` or ``skip``.
    """
    if path is None:
        return SeriesMap()
    path = Path(path)
    if not path.is_file():
        raise InputError("series map not found", path=path, fix="give an existing YAML or TSV file")
    entries: list[tuple[str, str]] = []
    if path.suffix.lower() in (".tsv", ".txt"):
        import pandas as pd

        try:
            table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"series map is not a readable TSV ({exc})", path=path,
                             fix="write two tab-separated columns 'match' and 'suffix'") from None
        if not {"match", "suffix"} <= set(table.columns):
            raise InputError(
                f"series map has columns {list(table.columns)}, not 'match' and 'suffix'",
                path=path,
                fix="write two tab-separated columns 'match' and 'suffix'",
            )
        entries = list(zip(table["match"].str.strip(), table["suffix"].str.strip(), strict=True))
    else:
        import yaml

        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise InputError(f"series map is not valid YAML ({exc})", path=path,
                             fix="write one 'pattern: suffix' line per entry") from None
        if not isinstance(loaded, dict):
            raise InputError(
                "series map must be a YAML mapping of pattern or UID to suffix",
                path=path,
                fix="write one 'pattern: suffix' line per entry",
            )
        entries = [(str(k).strip(), str(v).strip()) for k, v in loaded.items()]
    result = SeriesMap(source=path)
    for key, suffix in entries:
        if suffix not in MAP_TARGETS:
            raise InputError(
                f"series map entry {key!r} gives {suffix!r}, not one of {', '.join(MAP_TARGETS)}",
                path=path,
                fix="use one of the listed suffixes",
            )
        if re.fullmatch(r"[0-9.]+", key) and "." in key:
            result.by_uid[key] = suffix
        else:
            result.patterns.append((key, suffix))
    return result


def _ms(header: Dataset, keyword: str) -> float | None:
    try:
        value = header.get(keyword)
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def classify_mr(header: Dataset, description: str = "") -> str:
    """BIDS anatomical key of an MR series from its tags, or `SkipSeries` with why (rules 2-6)."""
    description = description or str(header.get("SeriesDescription", "") or "")
    image_type = [str(v).upper() for v in (header.get("ImageType") or [])]
    if "LOCALIZER" in image_type or _LOCALIZER.search(description):
        raise SkipSeries("localizer")
    if _NOT_ANATOMY.search(description):
        raise SkipSeries("MR sequence not recognised (diffusion, perfusion or derived map): "
                         "give it in --series-map")
    scanning = {str(v).upper() for v in (header.get("ScanningSequence") or [])}
    if isinstance(header.get("ScanningSequence"), str):
        scanning = {s.upper() for s in str(header.ScanningSequence).split("\\")}
    tr, te, ti = (
        _ms(header, "RepetitionTime"),
        _ms(header, "EchoTime"),
        _ms(header, "InversionTime"),
    )
    agent = str(header.get("ContrastBolusAgent", "") or "").strip()
    sequence_name = str(header.get("SequenceName", "") or "").lower()
    kind = None
    if _FLAIR.search(description) or ("tir" in sequence_name and ti is not None and ti >= 1500) \
            or ("IR" in scanning and ti is not None and ti >= 1500 and (te or 0) >= 60):
        kind = "FLAIR"
    elif _T2.search(description) and not _T1.search(description):
        kind = "T2w"
    elif _T1.search(description) or "tfl" in sequence_name:
        kind = "T1w"
    elif (
        "SE" in scanning
        and "IR" not in scanning
        and te is not None
        and tr is not None
        and te >= 60
        and tr >= 2000
    ):
        kind = "T2w"
    elif (
        te is not None
        and te < 30
        and ((tr is not None and tr < 1000) or (ti is not None and ti < 1500))
    ):
        kind = "T1w"
    if kind is None:
        raise SkipSeries("MR sequence not recognised: give it in --series-map")
    if kind == "T1w" and (agent or _POST.search(description)) and not _PRE.search(description):
        return "ce-gadolinium_T1w"
    return kind
