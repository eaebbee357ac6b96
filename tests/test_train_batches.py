"""The tf.data training batches: seeded, reshuffled and re-augmented each epoch, shifts in range."""

from __future__ import annotations

import numpy as np


def _epochs(ds, n):
    out = []
    for _ in range(n):
        xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
        out.append((np.concatenate(xs), np.concatenate(ys)))
    return out


def test_same_seed_same_batches_new_order_and_shifts_each_epoch():
    from edgekit.training.batches import training_batches

    rng = np.random.default_rng(0)
    x = rng.random((50, 16, 16, 3), dtype=np.float32)
    y = np.arange(50)
    a = _epochs(training_batches(x, y, 8, seed=4, augment=True), 2)
    b = _epochs(training_batches(x, y, 8, seed=4, augment=True), 2)
    c = _epochs(training_batches(x, y, 8, seed=5, augment=True), 1)
    for (xa, ya), (xb, yb) in zip(a, b):
        assert np.array_equal(xa, xb) and np.array_equal(ya, yb)
    assert sorted(a[0][1]) == list(range(50))  # every sample once per epoch
    assert not np.array_equal(a[0][1], a[1][1])  # reshuffled
    assert not np.array_equal(a[0][1], c[0][1])  # the seed matters
    # Each image is its source moved by at most pad = 16 // 16 = 1 pixel, the border repeating its edge.
    xb, yb = a[0]
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    moved = 0
    for img, k in zip(xb, yb):
        hits = [(dy, dx) for dy in range(3) for dx in range(3) if np.array_equal(padded[k, dy:dy + 16, dx:dx + 16], img)]
        assert hits, f"sample {k} is not a shifted copy of its source"
        moved += (1, 1) not in hits
    assert moved > 25  # most images were shifted
    # with flip, about half of them are also mirrored left to right
    (xf, yf), = _epochs(training_batches(x, y, 8, seed=4, augment=True, flip=True), 1)
    mirrored = sum(any(np.array_equal(padded[k, dy:dy + 16, dx:dx + 16][:, ::-1], img)
                       for dy in range(3) for dx in range(3)) for img, k in zip(xf, yf))
    assert 10 < mirrored < 40


def test_no_augmentation_for_feature_vectors_or_when_off():
    from edgekit.training.batches import training_batches

    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    (xs, ys), = _epochs(training_batches(x, np.arange(20), 6, seed=0, augment=True), 1)
    assert np.array_equal(xs, x[ys])
    imgs = np.random.default_rng(1).random((10, 8, 8, 1), dtype=np.float32)
    (xs, ys), = _epochs(training_batches(imgs, np.arange(10), 4, seed=0, augment=False), 1)
    assert np.array_equal(xs, imgs[ys])


def test_models_latency_column_reads_the_zoo_table(cli, repo_root):
    import json

    doc = json.loads((repo_root / "benchmarks" / "results" / "zoo_latency.json").read_text())
    row = next(r for r in doc["rows"] if not r.get("error"))
    res = cli("models", row["model"], "--latency", env={"COLUMNS": "240"})
    assert res.returncode == 0, res.stderr[-2000:]
    assert "TFLite int8 ms" in res.stdout and f"{row['tflite_fp32_ms']:.3f}" in res.stdout
