"""`gliopet reader create-study | export`: exit codes, messages, nothing written on bad input."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from gliopet.reader.security import verify_password
from support.reader_study import make_reader_dataset

RunCli = Callable[..., tuple[int, str, str]]


def test_create_study_prints_new_passwords_once(tmp_path: Path, run_cli: RunCli) -> None:
    data = make_reader_dataset(tmp_path / "bids", n_cases=2)
    readers = tmp_path / "readers.tsv"
    pd.DataFrame({"username": ["anna", "ben", "chief"], "site": ["Munich", "Lyon", "Munich"],
                  "password": ["correct-horse-1", None, None],
                  "role": ["reader", "reader", "admin"]}).to_csv(readers, sep="\t", index=False)
    db = tmp_path / "study.db"
    code, out, err = run_cli("reader", "create-study", data.root, "--predictions",
                             data.predictions, "--name", "pilot", "--database",
                             f"sqlite:///{db}", "--readers", readers, "--seed", 3,
                             "--design", "split-plot", "--arms",
                             "unaided,probability-only,aided")
    assert code == 0, err
    assert "study pilot: 2 cases" in out
    lines = [line.split("\t") for line in out.splitlines() if line.startswith("  ")]
    assert [(cells[0].strip(), cells[1], cells[2]) for cells in lines] == [
        ("ben", "Lyon", "reader"), ("chief", "Munich", "admin")]
    assert "correct-horse-1" not in out
    from sqlalchemy import select

    from gliopet.reader.models import Reader
    from gliopet.reader.store import session_factory
    with session_factory(f"sqlite:///{db}")() as s:
        hashes = {r.username: r.password_hash for r in s.scalars(select(Reader))}
    assert verify_password(hashes["anna"], "correct-horse-1")
    assert verify_password(hashes["ben"], lines[0][3])


def test_bad_options_exit_2_and_write_nothing(tmp_path: Path, run_cli: RunCli) -> None:
    data = make_reader_dataset(tmp_path / "bids", n_cases=1)
    db = tmp_path / "study.db"
    base = ("reader", "create-study", data.root, "--predictions", data.predictions,
            "--name", "s", "--database", f"sqlite:///{db}")
    code, _, err = run_cli(*base, "--arms", "aided,unaided")
    assert code == 2
    assert "the '--arms' parameter must be unaided first" in err
    code, _, err = run_cli(*base, "--design", "nested")
    assert code == 2 and "one of crossed, split-plot" in err
    code, _, err = run_cli(*base, "--truth-column", "grade")
    assert code == 2 and "no truth column 'grade'" in err
    assert not db.exists() and not (tmp_path / "study.db-images").exists()


def test_predictions_with_several_models_need_model(tmp_path: Path, run_cli: RunCli) -> None:
    data = make_reader_dataset(tmp_path / "bids", n_cases=2)
    table = pd.read_csv(data.predictions, sep="\t")
    pd.concat([table, table.assign(model="radiomics-lr")]).to_csv(data.predictions, sep="\t",
                                                                    index=False)
    code, _, err = run_cli("reader", "create-study", data.root, "--predictions",
                           data.predictions, "--name", "s", "--database",
                           f"sqlite:///{tmp_path / 'a.db'}")
    assert code == 2
    assert "holds several models (radiomics-lr, rules-tsr)" in err and "--model NAME" in err
    code, out, err = run_cli("reader", "create-study", data.root, "--predictions",
                             data.predictions, "--name", "s", "--database",
                             f"sqlite:///{tmp_path / 'a.db'}", "--model", "radiomics-lr")
    assert code == 0, err


def test_export_without_readings_and_unknown_study(tmp_path: Path, run_cli: RunCli) -> None:
    data = make_reader_dataset(tmp_path / "bids", n_cases=1)
    url = f"sqlite:///{tmp_path / 'a.db'}"
    assert run_cli("reader", "create-study", data.root, "--predictions", data.predictions,
                   "--name", "s", "--database", url)[0] == 0
    code, _, err = run_cli("reader", "export", "--database", url, "--study", "s",
                           "--out", tmp_path / "x.csv")
    assert code == 2 and "study 's' has no submitted reading yet" in err
    code, _, err = run_cli("reader", "export", "--database", url, "--study", "t",
                           "--out", tmp_path / "x.csv")
    assert code == 2 and "no study 't' in the database (studies: s)" in err
    code, out, _ = run_cli("reader", "export", "--database", url, "--study", "s", "--layout",
                           "results", "--out", tmp_path / "r.csv")
    assert code == 0 and (tmp_path / "r.csv").read_text().startswith("reader,site,modality")
    code, _, err = run_cli("reader", "serve", "--database", f"sqlite:///{tmp_path / 'no.db'}")
    assert code == 2 and "the study database does not exist" in err
