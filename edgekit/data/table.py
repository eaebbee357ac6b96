"""CSV tables: ``--data table.csv --target COLUMN`` for feature models (mlp, mlp_regressor).

- A column whose every present value parses as a number is numeric: standardized with the
  training split's mean and std; a missing value (empty, ``NA``, ``NaN``, ``?``) becomes the
  training mean, i.e. 0 after standardizing.
- Any other column is categorical: one-hot over the values seen in the training split (sorted);
  a missing value or a value never seen in training is all zeros.
- The target: classification when it is text or has at most :data:`MAX_CLASSES` distinct
  integer values, regression otherwise (``task`` overrides). A row without a target is refused
  with its row number; so is a row with the wrong number of fields.

The column statistics and vocabularies are the dataset's ``preprocessing`` (model.json, the
exported model's metadata); :func:`table_features` applies them to raw rows the same way.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from edgekit.artifact import Normalization
from edgekit.errors import EdgekitError

MISSING = {"", "na", "nan", "n/a", "null", "none", "?"}
MAX_CLASSES = 20


def read_csv_rows(p: Path):
    """Header and ``(line number, fields)`` rows; a row with the wrong number of fields is an error."""
    try:
        with open(p, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if not header:
                raise EdgekitError(f"{p}: the CSV file is empty; it needs a header row and data rows.")
            header = [h.strip() for h in header]
            rows = []
            for row in reader:
                if not row:
                    continue
                if len(row) != len(header):
                    raise EdgekitError(f"{p}: row {reader.line_num} has {len(row)} fields but the header has "
                                       f"{len(header)}; fix or remove that row.")
                rows.append((reader.line_num, row))
    except UnicodeDecodeError as e:
        raise EdgekitError(f"{p}: not UTF-8 text (byte {e.start}); save the CSV as UTF-8.") from None
    except csv.Error as e:
        raise EdgekitError(f"{p}: not a readable CSV file ({e}).") from None
    if not rows:
        raise EdgekitError(f"{p}: the CSV file has a header but no data rows.")
    return header, rows


def _missing(v: str) -> bool:
    return v.strip().lower() in MISSING


def _number(v: str):
    try:
        return float(v)
    except ValueError:
        return None


def _column_kinds(header, rows, target):
    kinds = {}
    for j, name in enumerate(header):
        if name == target:
            continue
        present = [r[j] for _, r in rows if not _missing(r[j])]
        kinds[name] = "numeric" if present and all(_number(v) is not None for v in present) else "categorical"
    return kinds


def fit_columns(header, rows, train_idx, target) -> list[dict]:
    """Per-feature-column statistics from the training rows only."""
    cols = []
    for name, kind in _column_kinds(header, rows, target).items():
        j = header.index(name)
        vals = [rows[i][1][j] for i in train_idx]
        if kind == "numeric":
            x = np.array([float(v) for v in vals if not _missing(v)], np.float64)
            mean = float(x.mean()) if len(x) else 0.0
            std = float(x.std()) if len(x) else 1.0
            cols.append({"name": name, "kind": "numeric", "mean": mean, "std": std or 1.0})
        else:
            cols.append({"name": name, "kind": "categorical",
                         "categories": sorted({v.strip() for v in vals if not _missing(v)})})
    return cols


def table_features(header, rows, columns: list[dict]) -> np.ndarray:
    """Raw CSV rows to the model's feature vectors, with the saved column statistics."""
    blocks = []
    for col in columns:
        if col["name"] not in header:
            raise EdgekitError(f"the table has no column {col['name']!r}, which the model was trained with.")
        j = header.index(col["name"])
        vals = [r[j] for _, r in rows]
        if col["kind"] == "numeric":
            x = np.zeros((len(rows), 1), np.float64)
            for i, ((line, _), v) in enumerate(zip(rows, vals)):
                if _missing(v):
                    continue  # the training mean: 0 once standardized
                f = _number(v)
                if f is None:
                    raise EdgekitError(f"row {line}: column {col['name']!r} should be a number, got {v!r}.")
                x[i, 0] = (f - col["mean"]) / col["std"]
        else:
            index = {c: k for k, c in enumerate(col["categories"])}
            x = np.zeros((len(rows), len(index)), np.float64)
            for i, v in enumerate(vals):
                k = index.get(v.strip())
                if k is not None:
                    x[i, k] = 1.0
        blocks.append(x)
    return np.hstack(blocks).astype(np.float32) if blocks else np.zeros((len(rows), 0), np.float32)


def load_table(p: Path, target: str | None, seed: int, val_fraction: float, test_fraction: float,
               preprocessing: dict | None = None, task: str | None = None):
    from edgekit.data.builtin import RegressionDataset
    from edgekit.data.datasets import Dataset, _split

    saved = preprocessing if preprocessing and preprocessing.get("kind") == "table" else None
    target = target or (saved or {}).get("target")
    header, rows = read_csv_rows(p)
    if not target:
        raise EdgekitError(f"{p}: a table needs its target column: pass --target COLUMN "
                           f"(columns: {', '.join(header)}).")
    if target not in header:
        raise EdgekitError(f"{p}: no column {target!r}; the columns are {', '.join(header)}.")
    t = header.index(target)
    for line, r in rows:
        if _missing(r[t]):
            raise EdgekitError(f"{p}: row {line} has no value for the target {target!r}; fill or remove it.")
    raw_y = [r[t].strip() for _, r in rows]
    numbers = [_number(v) for v in raw_y]
    numeric = all(v is not None for v in numbers)
    task = task or (saved or {}).get("task")
    if task is None:
        few = numeric and all(float(v).is_integer() for v in numbers) and len(set(numbers)) <= MAX_CLASSES
        task = "classification" if (not numeric or few) else "regression"
    if task not in ("classification", "regression"):
        raise EdgekitError(f"--task must be classification or regression for a table, got {task!r}.")
    if task == "regression" and not numeric:
        bad = next(line for (line, _), v in zip(rows, numbers) if v is None)
        raise EdgekitError(f"{p}: row {bad}: the target {target!r} is not a number, so it cannot be regressed.")
    if task == "classification":
        names = sorted(set(raw_y), key=lambda v: (_number(v) is None, _number(v) or 0.0, v))
        y = np.asarray([names.index(v) for v in raw_y], np.int64)
        idx = _split(p.name, np.arange(len(rows)), y, names, Normalization(), seed, val_fraction, test_fraction)
    else:
        from sklearn.model_selection import train_test_split

        y = np.asarray(numbers, np.float64)
        names = [target]
        all_idx = np.arange(len(rows))
        try:
            rest, te = train_test_split(all_idx, test_size=test_fraction, random_state=seed)
            tr, va = train_test_split(rest, test_size=val_fraction / (1.0 - test_fraction), random_state=seed)
        except ValueError as e:
            raise EdgekitError(f"{p}: too few rows ({len(rows)}) to split into train/validation/test: {e}") from None
        idx = Dataset(p.name, tr, tr, va, va, te, te, Normalization(), names)
    columns = saved["columns"] if saved else fit_columns(header, rows, idx.x_train, target)
    x = table_features(header, rows, columns)
    prep = {"kind": "table", "target": target, "task": task, "columns": columns,
            "features": [c["name"] if c["kind"] == "numeric" else f"{c['name']}={v}"
                         for c in columns for v in (c.get("categories") or [None])],
            "input": "numeric: (value - mean) / std, missing -> 0; categorical: one-hot over categories, "
                     "missing or unseen -> all zeros; columns in this order"}
    # The features are standardized per column above; the scalar normalization is the identity.
    normalization = Normalization(mean=0.0, std=1.0, raw_range=(float(x.min()), float(x.max())))
    if task == "classification":
        ds = Dataset(p.name, x[idx.x_train], y[idx.x_train], x[idx.x_val], y[idx.x_val], x[idx.x_test],
                     y[idx.x_test], normalization, names)
    else:
        tr, va, te = idx.x_train, idx.x_val, idx.x_test
        mean = saved["target_mean"] if saved else float(y[tr].mean())
        std = saved["target_std"] if saved else (float(y[tr].std()) or 1.0)
        prep.update(target_mean=mean, target_std=std)
        ys = ((y - mean) / std).astype(np.float32)[:, None]
        ds = RegressionDataset(p.name, x[tr], ys[tr], x[va], ys[va], x[te], ys[te], normalization, names,
                               task="regression", target_mean=mean, target_std=std)
    ds.task = task
    ds.preprocessing = prep
    return ds
