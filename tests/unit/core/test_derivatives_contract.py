"""Derivative file names are spelled in one place: the derivatives contract.

`gliopet.io.derivatives` declares every file a stage writes by its BIDS entities; writers and
readers go through it. This test parses every module of ``src/gliopet``, ``scripts`` and
``benchmarks`` with `ast` and fails on:

1. a call to ``bids_name(...)`` with a derivative entity keyword (space, desc, stat, res, from,
   to, mode, label, hemi), a ``**`` argument (entities unknown) or a derivative suffix (mask,
   dseg, xfm, qc, quant, tacs, table, timeseries, kinetics, latent, motion);
2. a ``.glob(`` / ``.rglob(`` call whose pattern names derivative entities, suffixes or folders;
3. a string literal (docstrings excepted) that is a piece of a derivative file name: without
   whitespace, an entity token at the start or after an underscore (``desc-mc``, ``_space-pet``),
   a derivative suffix with its extension (``_quant.json``) or a derivatives folder
   (``derivatives``, ``phantom-truth``); in any literal, a complete derivative file name or
   a glob over one (``*_desc-mc_pet.nii.gz``). Prose may still mention a file by its entities
   (a sidecar's "desc-background_mask (healthy contralateral brain)").

Allow-list: ``gliopet/io/derivatives.py`` (the contract) and ``gliopet/io/bids_names.py`` (the
generic name builder that the contract uses, with its entity table). Raw BIDS writers
(``io/bids_write.py``, ``io/dicom/importer.py``, the phantom's raw dataset in
``simulate/cohort.py``) are not on the list: raw names use raw entities (trc, ce, acq, rec, run)
and raw suffixes (pet, T1w, blood, sessions), which no rule flags, so a derivative name added
there fails like anywhere else. Tests are not scanned: they pin today's names literally on purpose.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SCANNED = ("src/gliopet", "scripts", "benchmarks")
ALLOWED = {"src/gliopet/io/derivatives.py", "src/gliopet/io/bids_names.py"}

ENTITY = r"(?:space|desc|stat|res|from|to|mode|label|hemi)"
SUFFIX = r"(?:mask|dseg|xfm|qc|quant|tacs|table|timeseries|kinetics|latent|motion)"
EXT = r"\.(?:nii\.gz|nii|json|tsv|txt|png)"
DERIVATIVE_ENTITIES = {"space", "desc", "stat", "res", "from", "from_", "to", "mode", "label",
                       "hemi"}
DERIVATIVE_SUFFIXES = set(SUFFIX[3:-1].split("|"))

#: Whitespace-free literal: an entity token, a suffix with extension, a derivatives folder.
TOKEN = re.compile(rf"(?:^|_){ENTITY}-|_{SUFFIX}{EXT}|^derivatives(?:/|$)|^phantom-truth$")
#: Any literal: a derivative file name (entities ... suffix + extension) or a glob over one.
FILE_NAME = re.compile(rf"{ENTITY}-[^\s_]+(?:_[^\s_]+)*_[A-Za-z0-9]+{EXT}"
                       rf"|\*[^\s]*_(?:{ENTITY}-|{SUFFIX}{EXT})")
#: Glob pattern naming a derivative: entity, suffix or derivatives folder.
GLOB = re.compile(rf"{ENTITY}-|_{SUFFIX}(?:\.|\*|$)|derivatives|phantom-truth")


def _docstring_ids(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _text(node: ast.AST) -> str:
    """Constant parts of a string literal or f-string (placeholders as ``{}``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return ""


def _callee(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def violations(source: str, name: str = "<source>") -> list[str]:
    """Every place in `source` that spells a derivative name outside the contract."""
    tree = ast.parse(source)
    docstrings = _docstring_ids(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _callee(node) == "bids_name":
            keywords = {k.arg for k in node.keywords}
            suffix = _text(node.args[2]) if len(node.args) > 2 else ""
            if None in keywords or keywords & DERIVATIVE_ENTITIES or suffix in DERIVATIVE_SUFFIXES:
                found.append(f"{name}:{node.lineno}: bids_name() builds a derivative name")
        elif isinstance(node, ast.Call) and _callee(node) in ("glob", "rglob") and node.args:
            pattern = _text(node.args[0])
            if GLOB.search(pattern):
                found.append(f"{name}:{node.lineno}: glob over derivative names {pattern!r}")
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and id(node) not in docstrings):
            text = node.value
            if FILE_NAME.search(text) or (not re.search(r"\s", text) and TOKEN.search(text)):
                found.append(f"{name}:{node.lineno}: derivative name piece {text!r}")
    return found


def _modules() -> list[Path]:
    paths = []
    for folder in SCANNED:
        paths += sorted((REPO / folder).rglob("*.py"))
    return [p for p in paths if p.relative_to(REPO).as_posix() not in ALLOWED]


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_no_derivative_name_outside_the_contract(path):
    found = violations(path.read_text(), path.relative_to(REPO).as_posix())
    assert not found, ("derivative names belong in gliopet.io.derivatives (declare the file there "
                       "and use .name/.path/find):\n" + "\n".join(found))


# The scanner itself: lines the contract replaced must be caught, prose and raw names must not.
CAUGHT = [
    # quant/pipeline.py and preprocess/pipeline.py before the contract
    'found = sorted(prep.glob("*_desc-mc_pet.nii.gz"))',
    'x = _prep_file(prep, f"*_space-pet_desc-{name}_mask.nii.gz")',
    'rows = sorted(stage.glob("sub-*/**/*_quant.json"))',
    'done = any(out_dir.glob("*_desc-preproc_qc.json"))',
    'path = out / bids_name(sub, ses, "mask", space="pet", desc="brain")',
    'path = out / bids_name(sub, ses, suffix, ext, **entities)',
    'path = out / bids_name(sub, ses, "quant", ".json")',
    'STAGE_DIR = Path("derivatives") / "gliopet" / "quant"',
    'TRUTH_DIR = Path("derivatives") / "phantom-truth"',
    # validation scripts and benchmarks before the contract
    'p = out / f"{p}_trc-FDOPA_space-pet_desc-srtm_stat-R1_pet.nii.gz"',
    'maps = next(pet_dir.glob(f"*_res-sim_stat-{k}_pet.nii.gz"))',
    'x = _pet_truth(root, row, "space-pet_desc-aggressive_mask.nii.gz")',
    'latent = sorted((truth / "beh").glob("*_latent.json"))',
    'desc = "desc-mc"',
    'message = "preprocessing output *_desc-mc_pet.nii.gz is missing"',
]
ALLOWED_SOURCES = [
    'sidecar = {"ReferenceRegion": "desc-background_mask (healthy contralateral brain)"}',
    'text = "(from-frame_to-reference in the sense of docs/conventions.md)"',
    'pets = sorted(pet_dir.glob("*_pet.nii*"))',
    'blood = sorted(folder.glob(f"{key}*_blood.tsv"))',
    'path = raw / bids_name(sub, ses, "pet", trc="FDOPA")',
    'fix = "add pet/sub-<s>_ses-<t>_trc-<tracer>_pet.nii.gz or drop the session"',
    'sessions = sorted(root.glob("sub-*/sub-*_sessions.tsv"))',
    'def f():\n    """Writes ``*_desc-mc_pet.nii.gz`` under derivatives/gliopet/preprocess."""',
]


@pytest.mark.parametrize("source", CAUGHT)
def test_scanner_catches_derivative_names(source):
    assert violations(source)


@pytest.mark.parametrize("source", ALLOWED_SOURCES)
def test_scanner_leaves_prose_raw_names_and_docstrings_alone(source):
    assert violations(source) == []
