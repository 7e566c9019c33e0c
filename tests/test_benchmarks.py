"""benchmarks/val_sweep.py as a user runs it: a JSONL record per configuration asked for."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from .conftest import REPO, rnnlab_env, run, training_root

SWEEP = """# two pooling variants on the tiny data
small: experiment=imdb_pool model.embedding_dim=4 trainer.epochs=3 trainer.batch_size=8 trainer.refit=false trainer.early_stopping.patience=0
larger: experiment=imdb_pool model.embedding_dim=8 trainer.epochs=2 trainer.batch_size=8 trainer.refit=false trainer.early_stopping.patience=0
unasked: experiment=no_such_experiment
"""  # one line per configuration, as in benchmarks/sweeps/


SCRIPT = str(REPO / "benchmarks" / "val_sweep.py")


def run_sweep(root: Path, *args: str) -> subprocess.CompletedProcess:
    return run([sys.executable, SCRIPT, *args], root, env=rnnlab_env(root))


def run_failing_sweep(root: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, SCRIPT, *args],
        cwd=root,
        env=rnnlab_env(root),
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0, result.stdout
    return result


def root_with_sweep(tiny_root: Path, tmp_path: Path, text: str = SWEEP) -> tuple[Path, Path]:
    """A project root with the tiny prepared data, and a sweep file holding `text`."""
    sweep = tmp_path / "sweep.txt"
    sweep.write_text(text, encoding="utf-8")
    return training_root(tiny_root, tmp_path / "root"), sweep


def read_records(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def test_val_sweep_appends_one_record_per_asked_label_with_its_validation_curves(
    tiny_root: Path, tmp_path: Path
) -> None:
    root, sweep = root_with_sweep(tiny_root, tmp_path)
    out = tmp_path / "results" / "tiny.jsonl"
    out.parent.mkdir()
    out.write_text('{"label": "earlier"}\n', encoding="utf-8")
    run_sweep(root, str(sweep), "--out", str(out), "--only", "small", "larger")

    records = read_records(out)
    assert [r["label"] for r in records] == ["earlier", "small", "larger"]  # "unasked" not run
    small, larger = records[1:]
    assert small["overrides"][:2] == ["experiment=imdb_pool", "model.embedding_dim=4"]
    assert (small["epochs"], larger["epochs"]) == (3, 2)
    assert larger["params"] > small["params"]  # the override reached the model
    for record in (small, larger):
        curve = record["curves"]["val_accuracy"]
        assert len(curve) == len(record["curves"]["val_loss"]) == record["epochs"]
        assert record["val_accuracy"] == max(curve)
        assert record["best_epoch"] == curve.index(max(curve)) + 1


def test_val_sweep_runs_each_variant_on_several_validation_splits(
    tiny_root: Path, tmp_path: Path
) -> None:
    root, sweep = root_with_sweep(tiny_root, tmp_path)
    out = tmp_path / "splits.jsonl"
    prepared_before = sorted(p.name for p in (root / "data" / "prepared").iterdir())
    result = run_sweep(
        root, str(sweep), "--out", str(out), "--only", "small", "--split-seeds", "42", "3"
    )

    records = read_records(out)
    assert [(r["label"], r["split_seed"]) for r in records] == [("small", 42), ("small", 3)]
    assert records[1]["overrides"] == records[0]["overrides"]  # the variant, not the split
    mean = (records[0]["val_accuracy"] + records[1]["val_accuracy"]) / 2
    assert f"small: mean {mean:.4f} over 2 splits" in result.stdout
    # Seed 42 is the pipeline's split, read where DVC put it; seed 3 is prepared beside it.
    assert sorted(p.name for p in (root / "data" / "prepared").iterdir()) == prepared_before
    name = "imdb_v30000_len800_postpost_val0.2_blocks500"
    own, other = root / "data" / "prepared" / name, root / "data" / "sweep_splits" / "seed3" / name
    val_ids = [set(np.load(folder / "id_val.npy").tolist()) for folder in (own, other)]
    assert val_ids[0] != val_ids[1]  # another validation split, not a copy


def test_val_sweep_prepares_a_dataset_variant_no_stage_prepares_beside_dvcs(
    tiny_root: Path, tmp_path: Path
) -> None:
    text = "short: experiment=sine_lstm dataset.steps=5 trainer.epochs=1 trainer.refit=false\n"
    root, sweep = root_with_sweep(tiny_root, tmp_path, text)
    prepared_before = sorted(p.name for p in (root / "data" / "prepared").iterdir())
    out = tmp_path / "variant.jsonl"
    result = run_sweep(root, str(sweep), "--out", str(out))

    assert [r["label"] for r in read_records(out)] == ["short"]
    assert sorted(p.name for p in (root / "data" / "prepared").iterdir()) == prepared_before
    (variant,) = (root / "data" / "sweep_splits" / "variants").iterdir()
    assert "steps5" in variant.name and f"preparing {variant.name} in" in result.stdout
    assert np.load(variant / "x_val_steps.npy").shape[1:] == (5, 1)  # windows of 5 steps


def test_val_sweep_refuses_split_seeds_for_a_dataset_without_them(
    tiny_root: Path, tmp_path: Path
) -> None:
    root, sweep = root_with_sweep(tiny_root, tmp_path, "sine: experiment=sine_lstm\n")
    result = run_failing_sweep(
        root, str(sweep), "--out", str(tmp_path / "o.jsonl"), "--split-seeds", "3"
    )
    assert "--split-seeds needs an IMDB dataset" in result.stderr
    assert not (tmp_path / "o.jsonl").exists()


def test_speed_benchmark_composes_every_tuned_experiment_as_a_two_epoch_fit() -> None:
    """The timed side is the fit alone: a refit's given epochs must not stop a 2-epoch run."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from speed import experiment

    from rnnlab.config.settings import load_params

    names = sorted(load_params(REPO).experiments)  # params.yaml: the tuned suite
    assert "imdb_gru" in names and len(names) > 10
    for name in names:
        cfg = experiment(name, 20, REPO)
        assert cfg.trainer.epochs == 2 and cfg.trainer.steps_per_epoch == 20
        assert not cfg.trainer.refit


def test_unrolled_twin_is_the_same_network() -> None:
    """graph_modes.py's `unroll` mode times the experiment's own model, not another one."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import keras
    from speed import unrolled

    from rnnlab.config.settings import compose_run
    from rnnlab.data.splits import DataSpec
    from rnnlab.models import build_model

    keras.utils.set_random_seed(0)
    cfg = compose_run(["experiment=shakespeare_char_gru", "model.units=8"], REPO)
    model = build_model(cfg.model, DataSpec(task="shakespeare", vocab_size=11))
    twin = unrolled(model)
    rnns = [layer for layer in twin.layers if isinstance(layer, keras.layers.RNN)]
    assert len(rnns) == 2 and all(layer.unroll for layer in rnns)
    chars = np.random.default_rng(0).integers(0, 11, size=(3, 7))
    np.testing.assert_allclose(
        twin.predict(chars, verbose=0), model.predict(chars, verbose=0), atol=1e-5
    )


def test_nbsvm_reference_tokenises_as_published_and_learns_the_ratios() -> None:
    """benchmarks/nbsvm_reference.py: mesnilgr/nbsvm's tokens, and an NBSVM that separates
    reviews by word order alone once it has bigrams."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import pandas as pd
    from nbsvm_reference import nbsvm_accuracy, pipeline_texts, tokens

    review = 'A "Fine" film.<br />Really?!'
    assert tokens(review) == ["a", '"', "fine", '"', "film", ".", "really", "?", "!"]
    # --tokens pipeline: the pipeline's vectorizer drops the punctuation and the line break.
    (standardized,) = pipeline_texts(pd.DataFrame({"text": [review]}))["text"]
    assert standardized.split() == ["a", "fine", "film", "really"]
    rng = np.random.default_rng(0)
    filler = ["the", "plot", "actors", "scene", "film", "music"]

    def reviews(count: int) -> pd.DataFrame:
        rows = []
        for i in range(count):
            positive = i % 2 == 0
            cue = "not bad" if positive else "bad not"  # the same words, in another order
            words = [*rng.choice(filler, 6), *cue.split(), *rng.choice(filler, 6)]
            rows.append({"text": " ".join(words) + ".", "label": int(positive)})
        return pd.DataFrame(rows)

    train, scored = reviews(200), reviews(200)
    assert nbsvm_accuracy(train, scored, ngrams=2, C=1.0) == 1.0
    assert nbsvm_accuracy(train, scored, ngrams=1, C=1.0) < 0.7  # words alone: chance
    assert nbsvm_accuracy(train, scored, ngrams=2, C=1.0, tokenizer=str.split) == 1.0
