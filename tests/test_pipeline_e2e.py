"""End-to-end `dvc repro` of the data stages on tiny generated data in a project copy."""

import json
import time
from pathlib import Path

from .conftest import run


def test_data_stages_reproduce_and_second_run_is_a_no_op(project: Path) -> None:
    stages = ["download@imdb", "download@shakespeare", "parse_imdb"]
    stages += [
        "prepare_imdb@v10k_len500_post",
        "prepare_shakespeare@seq100",
        "prepare_sine@steps10",
    ]
    run(["dvc", "repro", *stages], project)
    prepared = project / "data" / "prepared"
    meta = json.loads((prepared / "imdb_v10000_len500_postpost_val0.2" / "meta.json").read_text())
    assert meta["sizes"] == {"train": 32, "val": 8, "test": 40}
    assert (prepared / "shakespeare_seq100_val0.1" / "x_train.npy").is_file()
    assert (project / "dvc.lock").is_file()

    started = time.perf_counter()
    again = run(["dvc", "repro", *stages], project)
    assert "Running stage" not in again.stdout
    assert time.perf_counter() - started < 10
