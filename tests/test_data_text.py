"""Text data: .txt class folders and text CSVs, the vocabulary fitted on the training split only,
saved with the model, and the exported models reproducing Keras on raw strings."""

from __future__ import annotations

import re

import numpy as np
import pytest

from edgekit.data import load_dataset
from edgekit.errors import EdgekitError

ANIMALS = ("dog", "cat", "fox", "owl")
FILLERS = ("the", "a", "big", "small", "old", "young", "happy", "grey", "quick", "lazy", "today", "again")


def _sentence(rng, first, second):
    """Fillers with 'FIRST ... chased ... SECOND' in order."""
    out = [str(w) for w in rng.choice(FILLERS, size=int(rng.integers(3, 7)))]
    i = int(rng.integers(0, len(out) + 1))
    j = int(rng.integers(i, len(out) + 1))
    return " ".join(out[:i] + [first] + out[i:j] + ["chased"] + out[j:] + [second]).capitalize() + "."


def chase_texts(n: int, seed: int = 0):
    """Texts where 'dog'/'cat' appear once each: class 'dog_chases' when the dog comes first.
    Both classes use the same words, so only their order decides."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for k in range(n):
        a, b = ("dog", "cat") if k % 2 == 0 else ("cat", "dog")
        texts.append(_sentence(rng, a, b))
        labels.append("dog_chases" if a == "dog" else "cat_chases")
    return texts, labels


@pytest.fixture(scope="module")
def chase_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("chase")
    texts, labels = chase_texts(800)
    for i, (t, lab) in enumerate(zip(texts, labels)):
        (root / lab).mkdir(exist_ok=True)
        (root / lab / f"{i:04d}.txt").write_text(t + "\n")
    return root


def phone_tokenize(texts, vocab_lines, length):
    """What an app does with vocab.txt and the tokenizer record: written here independently."""
    index = {w: i for i, w in enumerate(vocab_lines)}
    out = np.zeros((len(texts), length), np.int32)
    for r, t in enumerate(texts):
        ids = [index.get(w, 1) for w in re.findall(r"[a-z0-9']+", t.lower())][:length]
        out[r, : len(ids)] = ids
    return out


def test_text_csv_vocabulary_comes_from_the_training_split_only(tmp_path):
    rows = ["text,label"] + [f"\"good {i}, fine\",pos" if i % 2 else f"bad {i},neg" for i in range(60)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    ds = load_dataset(tmp_path / "t.csv", input_shape=(4,), kind="text")
    vocab = ds.preprocessing["tokenizer"]["vocabulary"]
    assert vocab[:2] == ["[PAD]", "[UNK]"] and "good" in vocab and ds.class_names == ["neg", "pos"]
    # each number appears in one row only: those of test rows must be unknown words
    train_numbers = {int(w) for w in vocab if w.isdigit()}
    assert len(train_numbers) == len(ds.x_train)
    assert np.all(ds.x_test[:, 1] == 1)  # 'bad N' / 'good N': the number is the 2nd token, unknown


def test_bad_text_inputs_are_one_line_naming_the_file_or_row(tmp_path):
    for c in ("a", "b"):
        (tmp_path / "f" / c).mkdir(parents=True)
        (tmp_path / "f" / c / "1.txt").write_text("hello there")
    (tmp_path / "f" / "b" / "empty.txt").write_text("  \n")
    with pytest.raises(EdgekitError, match=r"empty\.txt: the text file is empty"):
        load_dataset(tmp_path / "f", input_shape=(4,))
    (tmp_path / "t.csv").write_text("text,label\nhello,a\nthere,b,extra\n")
    with pytest.raises(EdgekitError, match="row 3 has 3 fields but the header has 2"):
        load_dataset(tmp_path / "t.csv", input_shape=(4,), kind="text")


def test_transformer_learns_word_order_from_txt_folder_and_exports_reproduce_keras(chase_folder, tmp_path):
    import json

    from edgekit.convert import export
    from edgekit.convert.metadata import read_metadata
    from edgekit.runtime.base import load_runner
    from edgekit.training import train
    from edgekit.verification import verify

    from conftest import run_cli

    res = train("transformer_encoder", str(chase_folder), out=tmp_path / "run", tensorboard=False, epochs=8,
                patience=4, params={"input_shape": (16,), "embed_dim": 32, "num_heads": 2, "ff_dim": 64,
                                    "num_layers": 2, "dropout": 0.0})
    print("transformer accuracy on word order", res.metrics["accuracy"])
    assert res.metrics["accuracy"] >= 0.90
    card = json.loads((tmp_path / "run" / "model.json").read_text())
    assert card["knobs"]["vocab_size"] == len(card["preprocessing"]["tokenizer"]["vocabulary"])

    # Raw strings (new ones, never seen), tokenized the way a phone app would from the exported files.
    texts, labels = chase_texts(64, seed=99)
    for fmt in ("tflite", "onnx"):
        art = export(res.model_path, to=fmt, precision="fp32", out=tmp_path / "exp")
        vocab = (tmp_path / "exp" / "vocab.txt").read_text().splitlines()
        meta = read_metadata(art.path)
        length = meta["preprocessing"]["tokenizer"]["sequence_length"]
        assert meta["preprocessing"]["tokenizer"]["vocabulary"] == vocab
        ids = phone_tokenize(texts, vocab, length)
        ref = res.model.predict(ids, verbose=0)
        got = load_runner(art.path, "litert" if fmt == "tflite" else "onnxruntime").run(ids)
        assert np.array_equal(got.argmax(1), ref.argmax(1)) and np.max(np.abs(got - ref)) < 1e-4, fmt
        names = meta["labels"]
        acc = np.mean([names[k] == lab for k, lab in zip(got.argmax(1), labels)])
        assert acc >= 0.90, (fmt, acc)
        # edgekit verify on the exported model with the token-id test split
        v = verify(art.path, res.model_path, data=str(chase_folder))
        assert v.parity.top1_agreement == 1.0 and v.n == len(res.dataset.x_test)
        assert verify(art.path, res.model_path).source == "random token ids"
    r = run_cli("bench", tmp_path / "exp" / "model_fp32.tflite", tmp_path / "exp" / "model_fp32.onnx", "--runs", "5",
                "--warmup", "1")
    assert r.returncode == 0, r.stderr[-2000:]
