"""CSV tables: numeric columns standardized with training statistics, categorical columns one-hot,
missing values, the task from the target, and the saved preprocessing reproducing the features."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from edgekit.data import load_dataset
from edgekit.errors import EdgekitError


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture
def sensors(tmp_path):
    """A generated table: two numeric columns (some missing), a categorical column (some missing),
    a class that the category and one number decide, and a numeric target for regression."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(300):
        site = ["north", "south", "east"][i % 3]
        temp = rng.normal(20, 5)
        hum = rng.normal(50, 10)
        label = "alarm" if (site == "north") != (temp > 20) else "ok"
        power = 3.0 * temp + (10.0 if site == "east" else 0.0) + rng.normal(0, 1)
        rows.append([f"{temp:.3f}" if i % 17 else "", f"{hum:.2f}" if i % 23 else "NA",
                     site if i % 29 else "", label, f"{power:.3f}"])
    return _write_csv(tmp_path / "sensors.csv", ["temp", "humidity", "site", "state", "power"], rows)


def independent_features(path, prep):
    """preprocessing.json applied to raw CSV rows by code written apart from edgekit's."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for r in rows:
        vec = []
        for c in prep["columns"]:
            v = r[c["name"]].strip()
            if c["kind"] == "numeric":
                vec.append(0.0 if v.lower() in ("", "na", "nan") else (float(v) - c["mean"]) / c["std"])
            else:
                vec.extend(1.0 if v == cat else 0.0 for cat in c["categories"])
        out.append(vec)
    return np.asarray(out, np.float32)


def test_table_statistics_come_from_the_training_split_and_are_reproducible(sensors):
    ds = load_dataset(sensors, target="state", seed=0)
    prep = ds.preprocessing
    assert ds.task == "classification" and ds.class_names == ["alarm", "ok"]
    names = [c["name"] for c in prep["columns"]]
    assert names == ["temp", "humidity", "site", "power"]
    site = prep["columns"][2]
    assert site["kind"] == "categorical" and site["categories"] == ["east", "north", "south"]
    # standardized with the training split's statistics: mean 0 over the present training values
    assert abs(float(ds.x_train[:, 0][ds.x_train[:, 0] != 0].mean())) < 0.1
    allx = independent_features(sensors, prep)
    for split in (ds.x_train, ds.x_test):
        d = np.abs(split[:, None, :] - allx[None, :, :]).max(-1).min(1)
        assert d.max() < 1e-5  # every row of the split is the independent computation of one CSV row


def test_regression_is_chosen_for_a_continuous_target_and_mlp_regressor_learns_it(sensors, tmp_path):
    from edgekit.training import train

    ds = load_dataset(sensors, target="power")
    assert ds.task == "regression" and ds.preprocessing["target_std"] > 1
    assert load_dataset(sensors, target="power", task="classification").task == "classification"
    res = train("mlp_regressor", str(sensors), out=tmp_path / "reg", tensorboard=False, epochs=40, patience=8,
                data_options={"target": "power"})
    print("table regression", res.metrics)
    assert res.metrics["r2"] >= 0.8  # power = 3 temp + 10 [east] + noise; temp is missing in 1/17 rows


def test_bad_tables_are_one_line_naming_the_row(tmp_path):
    p = _write_csv(tmp_path / "a.csv", ["x", "y"], [["1", "a"], ["2", "b"], ["3"], ["4", "a"]])
    with pytest.raises(EdgekitError, match=r"row 4 has 1 fields but the header has 2"):
        load_dataset(p, target="y")
    p = _write_csv(tmp_path / "b.csv", ["x", "y"], [["1", "a"], ["2", ""], ["3", "b"]])
    with pytest.raises(EdgekitError, match=r"row 3 has no value for the target 'y'"):
        load_dataset(p, target="y")
    with pytest.raises(EdgekitError, match="--target"):
        load_dataset(p)


def test_cli_trains_a_table_exports_and_the_bundle_normalization_reproduces_training(sensors, tmp_path, cli):
    r = cli("train", "mlp", "--data", sensors, "--target", "state", "--epochs", "30", "--param", "hidden_units=[32]",
            "--out", tmp_path / "run")
    assert r.returncode == 0, r.stderr[-2000:]
    card = json.loads((tmp_path / "run" / "model.json").read_text())
    assert card["preprocessing"]["kind"] == "table" and card["metrics"]["test_accuracy"] >= 0.85
    from edgekit.convert import export

    export(tmp_path / "run" / "model.keras", to="tflite", data=str(sensors), out=tmp_path / "exp")
    prep = json.loads((tmp_path / "exp" / "preprocessing.json").read_text())
    assert prep == card["preprocessing"]

    from edgekit.runtime.base import load_runner

    x = independent_features(sensors, prep)
    got = load_runner(tmp_path / "exp" / "model_fp32.tflite", "litert").run(x)
    states = [row["state"] for row in csv.DictReader(open(sensors))]
    acc = np.mean([card["labels"][k] == s for k, s in zip(got.argmax(1), states)])
    assert acc >= 0.85, acc

    from edgekit.training import train

    with pytest.raises(EdgekitError, match="--target"):
        train("mlp", str(sensors), out=tmp_path / "bad", tensorboard=False)
    assert not (tmp_path / "bad").exists()  # nothing written for refused data
