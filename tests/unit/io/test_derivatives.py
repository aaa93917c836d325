"""The derivatives contract: exact names of every declared file, paths, lookups and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from gliopet.errors import InputError
from gliopet.io import derivatives as d
from gliopet.io.session import Session

P = "sub-01_ses-a"
#: (declaration, fill, name): today's names, pinned (a rename must be deliberate).
NAMES = [
    (d.MOTION_TABLE, {}, f"{P}_trc-FDOPA_desc-motion_timeseries.tsv"),
    (d.MC_PET, {}, f"{P}_trc-FDOPA_desc-mc_pet.nii.gz"),
    (d.STATIC_PET, {}, f"{P}_trc-FDOPA_desc-static_pet.nii.gz"),
    (d.XFM, {"from_": "pet", "to": "T1w"}, f"{P}_from-pet_to-T1w_mode-image_xfm.txt"),
    (d.XFM, {"from_": "T1w", "to": "MNI152NLin2009aSym"},
     f"{P}_from-T1w_to-MNI152NLin2009aSym_mode-image_xfm.txt"),
    (d.T1W_MASK, {"desc": "brain"}, f"{P}_space-T1w_desc-brain_mask.nii.gz"),
    (d.PET_MASK, {"desc": "striatumanat"}, f"{P}_space-pet_desc-striatumanat_mask.nii.gz"),
    (d.MRI_ON_PET, d.anat_fill("ce-gadolinium_T1w"),
     f"{P}_ce-gadolinium_space-pet_desc-preproc_T1w.nii.gz"),
    (d.MRI_ON_PET, d.anat_fill("FLAIR"), f"{P}_space-pet_desc-preproc_FLAIR.nii.gz"),
    (d.LEARNING_PET, {}, f"{P}_trc-FDOPA_space-MNI152NLin2009aSym_res-2_desc-learning_pet.nii.gz"),
    (d.LEARNING_MRI, d.anat_fill("T2w"),
     f"{P}_space-MNI152NLin2009aSym_res-2_desc-learning_T2w.nii.gz"),
    (d.QC_ROW, {}, f"{P}_desc-preproc_qc.json"),
    (d.QC_FIGURE, {}, f"{P}_desc-preproc_qc.png"),
    (d.TUMOUR_MASK, {}, f"{P}_space-pet_desc-tumour_mask.nii.gz"),
    (d.BACKGROUND_MASK, {}, f"{P}_space-pet_desc-background_mask.nii.gz"),
    (d.STATIC_SUV, {}, f"{P}_trc-FDOPA_space-pet_desc-static_stat-SUV_pet.nii.gz"),
    (d.VOXEL_MAP, {"stat": "TTP"}, f"{P}_trc-FDOPA_space-pet_stat-TTP_pet.nii.gz"),
    (d.TBR_MAP, {"desc": "10to30min"},
     f"{P}_trc-FDOPA_space-pet_desc-10to30min_stat-TBR_pet.nii.gz"),
    (d.KINETIC_MAP, {"desc": "srtm", "stat": "BPnd"},
     f"{P}_trc-FDOPA_space-pet_desc-srtm_stat-BPnd_pet.nii.gz"),
    (d.VOI_TACS, {}, f"{P}_trc-FDOPA_desc-voi_tacs.tsv"),
    (d.HABITATS, {}, f"{P}_space-pet_desc-habitats_dseg.nii.gz"),
    (d.HABITAT_TACS, {}, f"{P}_trc-FDOPA_desc-habitats_tacs.tsv"),
    (d.HOTSPOTS, {}, f"{P}_space-pet_desc-hotspots_dseg.nii.gz"),
    (d.HOTSPOT_TABLE, {}, f"{P}_trc-FDOPA_desc-hotspots_table.tsv"),
    (d.PLASMA_KINETICS, {}, f"{P}_trc-FDOPA_desc-plasma_kinetics.tsv"),
    (d.QUANT_ROW, {}, f"{P}_quant.json"),
    (d.RADIOMICS_ROW, {}, f"{P}_radiomics.json"),
    (d.TRUTH_TISSUE_T1W, {}, f"anat/{P}_space-T1w_desc-tissue_dseg.nii.gz"),
    (d.TRUTH_HEMISPHERE_PET, {}, f"pet/{P}_space-pet_desc-hemisphere_dseg.nii.gz"),
    (d.TRUTH_AGGRESSIVE_SIM, {}, f"pet/{P}_space-T1w_res-sim_desc-aggressive_mask.nii.gz"),
    (d.TRUTH_PARAMS_SIM, {"stat": "vB"}, f"pet/{P}_trc-FDOPA_space-T1w_res-sim_stat-vB_pet.nii.gz"),
    (d.TRUTH_PARAMS_PET, {"stat": "K1"}, f"pet/{P}_trc-FDOPA_space-pet_stat-K1_pet.nii.gz"),
    (d.TRUTH_NOISEFREE_SIM, {}, f"pet/{P}_trc-FDOPA_space-T1w_res-sim_desc-noisefree_pet.nii.gz"),
    (d.TRUTH_NOISEFREE_PET, {"desc": "noisefreepsf"},
     f"pet/{P}_trc-FDOPA_space-pet_desc-noisefreepsf_pet.nii.gz"),
    (d.TRUTH_UNIFORM_KINETICS, {}, f"pet/{P}_space-pet_desc-uniformkinetics_mask.nii.gz"),
    (d.TRUTH_XFM, {}, f"xfm/{P}_from-pet_to-T1w_mode-image_xfm.txt"),
    (d.TRUTH_MOTION, {}, f"xfm/{P}_trc-FDOPA_motion.json"),
    (d.TRUTH_LATENT, {}, f"beh/{P}_latent.json"),
    # foundation inputs (issue 12)
    (d.LEARNING_MASK, {}, f"{P}_space-MNI152NLin2009aSym_res-2_desc-brain_mask.nii.gz"),
    (d.LEARNING_DYNAMIC, {"stat": "TBRearly"},
     f"{P}_trc-FDOPA_space-MNI152NLin2009aSym_res-2_desc-learning_stat-TBRearly_pet.nii.gz"),
    (d.BRATS_SEG, {}, f"anat/{P}_desc-tumour_dseg.nii.gz"),
    (d.EMBEDDING_MAP, {},
     f"{P}_space-MNI152NLin2009aSym_res-patch_desc-embedding_features.nii.gz"),
    (d.EMBEDDING_DENSE, {}, f"{P}_space-MNI152NLin2009aSym_res-2_desc-embedding_features.nii.gz"),
    (d.EMBEDDING_ROW, {}, f"{P}_embedding.json"),
    # WP2 signature and biopsy target (issue 14)
    (d.SIGNATURE_HABITATS, {}, f"{P}_space-pet_desc-signature_dseg.nii.gz"),
    (d.AGGRESSIVENESS_MAP, {}, f"{P}_space-pet_desc-aggressiveness_map.nii.gz"),
    (d.AGGRESSIVE_MASK, {}, f"{P}_space-pet_desc-aggressive_mask.nii.gz"),
    (d.SIGNATURE_ROW, {}, f"{P}_signature.json"),
    (d.BIOPSY_TARGET, {}, f"{P}_desc-biopsy_target.json"),
    (d.BIOPSY_SPHERE, {}, f"{P}_space-T1w_desc-target_mask.nii.gz"),
    (d.BIOPSY_SUBREGION, {}, f"{P}_space-T1w_desc-aggressive_mask.nii.gz"),
    (d.BIOPSY_SEG, {}, f"{P}_desc-biopsy_seg.dcm"),
    (d.BIOPSY_RTSTRUCT, {}, f"{P}_desc-biopsy_rtstruct.dcm"),
    (d.BIOPSY_MRI_DICOM, {}, f"{P}_space-T1w_desc-reference_dicom"),
    (d.BIOPSY_PMAP, {}, f"{P}_desc-aggressiveness_pmap.dcm"),
    (d.BIOPSY_MAP_DICOM, {}, f"{P}_desc-aggressiveness_dicom"),
    # WP3 saliency of `gliopet predict` (issue 13)
    (d.PREDICT_SALIENCY, {"desc": "cnnGradcam"},
     f"{P}_space-MNI152NLin2009aSym_res-2_desc-cnnGradcam_saliency.nii.gz"),
    (d.PREDICT_SALIENCY_FIGURE, {"desc": "cnnGradcam"},
     f"{P}_space-MNI152NLin2009aSym_res-2_desc-cnnGradcam_saliency.png"),
]


@pytest.mark.parametrize(("derivative", "fill", "name"), NAMES, ids=[n for _, _, n in NAMES])
def test_names_are_todays(derivative, fill, name, tmp_path):
    tracer = "FDOPA" if derivative.tracer else None
    folder = {"preprocess": "derivatives/gliopet/preprocess", "quant": "derivatives/gliopet/quant",
              "phantom-truth": "derivatives/phantom-truth",
              "brats": "derivatives/brats",
              "foundation": "derivatives/gliopet/foundation",
              "radiomics": "derivatives/gliopet/radiomics",
              "signature": "derivatives/gliopet/signature",
              "biopsy": "derivatives/gliopet/biopsy",
              "predict": "derivatives/gliopet/predict"}[derivative.folder.name]
    path = derivative.path(tmp_path, ("01", "a"), tracer=tracer, **fill)
    assert path == tmp_path / folder / "sub-01" / "ses-a" / name
    assert derivative.matches(path.name, ("01", "a"), **fill)


def test_every_declaration_is_pinned_above():
    pinned = {id(derivative) for derivative, _, _ in NAMES}
    unpinned = [name for name, value in d.declared().items()
                if isinstance(value, d.Derivative) and id(value) not in pinned]
    assert unpinned == ["TRUTH_AGGRESSIVE_T1W", "TRUTH_HEMISPHERE_T1W", "TRUTH_TISSUE_PET",
                        "TRUTH_AGGRESSIVE_PET", "TRUTH_TISSUE_SIM"]  # same pattern as pinned ones


def test_tables_and_folders(tmp_path):
    assert d.QC_TABLE.path(tmp_path) == tmp_path / "derivatives/gliopet/preprocess/qc.tsv"
    assert d.QUANT_TABLE.sidecar(tmp_path) == tmp_path / "derivatives/gliopet/quant/quant.json"
    assert d.COHORT_TABLE.relative == Path("derivatives/gliopet/quant/cohort.tsv")
    assert d.TRUTH_TABLE.sidecar(tmp_path) == tmp_path / "derivatives/phantom-truth/truth.json"
    assert d.PHANTOM_REPORT.relative == Path("derivatives/gliopet/reports/phantom-realism.md")
    assert d.QUANT.provenance(tmp_path) == tmp_path / "derivatives/gliopet/quant/provenance.json"
    session = Session(subject="01", session="")
    expected = tmp_path / "derivatives/gliopet/preprocess/sub-01"
    assert d.PREPROCESS.session_dir(tmp_path, session) == expected
    assert d.QUANT_ROW.name("01", None) == "sub-01_quant.json"


def test_ids_from_sessions_pairs_and_prefixed_labels(tmp_path):
    expected = d.MC_PET.path(tmp_path, ("01", "a"), tracer="FDOPA")
    assert d.MC_PET.path(tmp_path, Session(subject="01", session="a"), tracer="FDOPA") == expected
    assert d.MC_PET.path(tmp_path, ("sub-01", "ses-a"), tracer="FDOPA") == expected


def test_fill_must_be_complete_and_known():
    with pytest.raises(ValueError, match="give exactly the entities"):
        d.PET_MASK.name("01", "a")
    with pytest.raises(ValueError, match="give exactly the entities"):
        d.TUMOUR_MASK.name("01", "a", desc="brain")
    with pytest.raises(ValueError, match="carries no tracer"):
        d.TUMOUR_MASK.name("01", "a", tracer="FDOPA")
    with pytest.raises(ValueError, match="besides ce"):
        d.anat_fill("acq-fast_T1w")


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x")
    return path


def test_find_matches_entities_not_substrings(tmp_path):
    ids = ("01", "a")
    mc = _touch(d.MC_PET.path(tmp_path, ids, tracer="FET"))
    brain = _touch(d.PET_MASK.path(tmp_path, ids, desc="brain"))
    _touch(d.PET_MASK.path(tmp_path, ("01", "b"), desc="brain"))        # another session
    _touch(d.PET_MASK.path(tmp_path, ids, desc="brain").with_name(".partial_" + brain.name))
    _touch(d.MC_PET.path(tmp_path, ids, tracer="FET").with_suffix(".json"))  # not the image
    assert d.find(tmp_path, ids, d.MC_PET) == mc                  # any tracer by default
    assert d.find_or_none(tmp_path, ids, d.MC_PET, tracer="FDOPA") is None
    assert d.find(tmp_path, ids, d.PET_MASK, desc="brain") == brain
    assert d.find_or_none(tmp_path, ids, d.PET_MASK, desc="striatum") is None
    assert d.find_all(tmp_path, ids, d.PET_MASK) == [brain]       # desc not given: any
    assert d.find_or_none(tmp_path, ids, d.TUMOUR_MASK) is None   # quant folder absent


def test_find_raises_what_is_missing_and_which_stage_to_run(tmp_path):
    with pytest.raises(InputError) as info:
        d.find(tmp_path, ("01", "a"), d.PET_MASK, desc="healthy", what="healthy mask")
    prep = tmp_path / "derivatives" / "gliopet" / "preprocess" / "sub-01" / "ses-a"
    assert info.value.one_line() == (
        f"{prep}: preprocessing output *_space-pet_desc-healthy_mask.nii.gz is missing (healthy "
        "mask) (fix: run `gliopet preprocess` on the dataset first (add --force to redo a broken "
        "session))")


def test_find_every_session_skips_staging_folders(tmp_path):
    rows = [_touch(d.QUANT_ROW.path(tmp_path, ids))
            for ids in (("02", "a"), ("01", "b"), ("01", "a"))]
    staging = d.QUANT.root(tmp_path) / "sub-01" / ".ses-c.x1.partial"
    _touch(staging / d.QUANT_ROW.name("01", "c"))
    assert d.find_every_session(tmp_path, d.QUANT_ROW) == sorted(rows)


def test_labels_and_patterns_for_messages():
    assert d.BACKGROUND_MASK.label() == "space-pet_desc-background_mask"
    assert d.BACKGROUND_MASK.label(only=("desc",)) == "desc-background_mask"
    assert d.STATIC_PET.label() == "desc-static_pet"
    assert d.KINETIC_MAP.pattern(desc="srtm") == "*_space-pet_desc-srtm_stat-<stat>_pet.nii.gz"
    assert d.TRUTH_LATENT.pattern() == "*_latent.json"
