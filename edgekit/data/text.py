"""Text: a folder with one subfolder per class of ``.txt`` files, or a CSV with a text column
and a label column, turned into fixed-length token-id sequences.

The tokenizer is the simplest one a phone app can reproduce exactly: lowercase, words are runs
of ``[a-z0-9']`` (:data:`TOKEN_PATTERN`), id 0 pads, id 1 stands for a word not in the
vocabulary, ids 2.. are the training split's words by falling frequency (ties alphabetical),
at most ``max_tokens`` of them. A text longer than the model's sequence length keeps its first
words; a shorter one is padded with 0 at the end. The vocabulary is fitted on the **training
split only** and saved (``preprocessing`` in model.json and the exported model's metadata, and
``vocab.txt`` beside every exported file: line *i* is the word of id *i*).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from edgekit.artifact import Normalization
from edgekit.errors import EdgekitError

TOKEN_PATTERN = r"[a-z0-9']+"
PAD, UNK = "[PAD]", "[UNK]"
VOCAB_FILE = "vocab.txt"


class Tokenizer(BaseModel):
    model_config = ConfigDict(frozen=True)
    vocabulary: list[str]  # index = token id; 0 is PAD, 1 is UNK
    sequence_length: int
    lowercase: bool = True
    pattern: str = TOKEN_PATTERN

    @classmethod
    def fit(cls, texts, sequence_length: int, max_tokens: int = 20000) -> "Tokenizer":
        counts = Counter(w for t in texts for w in _words(t, True, TOKEN_PATTERN))
        words = sorted(counts, key=lambda w: (-counts[w], w))[: max(0, max_tokens - 2)]
        return cls(vocabulary=[PAD, UNK] + words, sequence_length=int(sequence_length))

    def encode(self, texts) -> np.ndarray:
        index = {w: i for i, w in enumerate(self.vocabulary)}
        out = np.zeros((len(texts), self.sequence_length), np.int32)
        for r, t in enumerate(texts):
            ids = [index.get(w, 1) for w in _words(t, self.lowercase, self.pattern)][: self.sequence_length]
            out[r, : len(ids)] = ids
        return out

    def vocab_file(self) -> str:
        return "\n".join(self.vocabulary) + "\n"


def _words(text: str, lowercase: bool, pattern: str) -> list[str]:
    return re.findall(pattern, text.lower() if lowercase else text)


def _read_text_folder(p: Path):
    class_dirs = sorted(d for d in p.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(class_dirs) < 2:
        raise EdgekitError(f"{p}: a text folder needs one subfolder of .txt files per class and at least two "
                           f"classes (found {len(class_dirs)}).")
    texts, labels = [], []
    for label, d in enumerate(class_dirs):
        files = sorted(f for f in d.iterdir() if f.suffix.lower() == ".txt")
        if not files:
            raise EdgekitError(f"{d}: class folder has no .txt files.")
        for f in files:
            try:
                t = f.read_text(encoding="utf-8")
            except UnicodeDecodeError as e:
                raise EdgekitError(f"{f}: not UTF-8 text (byte {e.start}); re-save it as UTF-8.") from None
            if not t.strip():
                raise EdgekitError(f"{f}: the text file is empty; remove it or give it text.")
            texts.append(t)
            labels.append(label)
    return texts, np.asarray(labels, np.int64), [d.name for d in class_dirs]


def _read_text_csv(p: Path, label_column: str | None, text_column: str | None):
    from edgekit.data.table import read_csv_rows

    header, rows = read_csv_rows(p)
    label_column = label_column or ("label" if "label" in header else None)
    if label_column not in header:
        raise EdgekitError(f"{p}: no label column {label_column!r} (columns: {', '.join(header)}); "
                           "name it with --target.")
    others = [c for c in header if c != label_column]
    text_column = text_column or ("text" if "text" in header else (others[0] if len(others) == 1 else None))
    if text_column not in header:
        raise EdgekitError(f"{p}: cannot tell the text column among {', '.join(others)}; call it 'text'.")
    ti, li = header.index(text_column), header.index(label_column)
    texts, raw_labels = [], []
    for line, row in rows:
        if not row[ti].strip():
            raise EdgekitError(f"{p}: row {line} has an empty {text_column!r}; fill or remove it.")
        if not row[li].strip():
            raise EdgekitError(f"{p}: row {line} has no {label_column!r}; fill or remove it.")
        texts.append(row[ti])
        raw_labels.append(row[li].strip())
    names = sorted(set(raw_labels))
    return texts, np.asarray([names.index(v) for v in raw_labels], np.int64), names


SEQUENCE_QUANTILE = 0.95  # a fitted length holds this share of training texts whole
SEQUENCE_MULTIPLE = 8


def fitted_sequence_length(texts, cap: int | None = None) -> int:
    """The sequence length for ``texts`` (the training split's): the word count that
    :data:`SEQUENCE_QUANTILE` of them fit in, rounded up to a multiple of 8, at most ``cap``."""
    counts = [len(_words(t, True, TOKEN_PATTERN)) for t in texts] or [1]
    n = int(np.ceil(np.quantile(counts, SEQUENCE_QUANTILE)))
    n = max(SEQUENCE_MULTIPLE, -(-n // SEQUENCE_MULTIPLE) * SEQUENCE_MULTIPLE)
    return min(n, int(cap)) if cap else n


def load_text(p: Path, sequence_length: int | None, seed: int, val_fraction: float, test_fraction: float,
              preprocessing: dict | None = None, label_column: str | None = None, max_tokens: int = 20000,
              max_length: int | None = None):
    """Token-id sequences of a text folder or CSV; ``sequence_length`` ``None`` fits it to the training
    split (at most ``max_length``, the model's own default)."""
    from edgekit.data.datasets import Dataset, _split

    if p.is_dir():
        texts, y, names = _read_text_folder(p)
    else:
        texts, y, names = _read_text_csv(p, label_column, (preprocessing or {}).get("text_column"))
    idx = _split(p.name, np.arange(len(y)), y, names, Normalization(), seed, val_fraction, test_fraction)
    if preprocessing and preprocessing.get("kind") == "text":
        tok = Tokenizer(**preprocessing["tokenizer"])
    else:
        train_texts = [texts[i] for i in idx.x_train]
        length = sequence_length or fitted_sequence_length(train_texts, max_length)
        tok = Tokenizer.fit(train_texts, length, max_tokens)
    enc = tok.encode(texts)
    normalization = Normalization(mean=0.0, std=1.0, raw_range=(0.0, float(len(tok.vocabulary) - 1)))
    ds = Dataset(p.name, enc[idx.x_train], y[idx.x_train], enc[idx.x_val], y[idx.x_val], enc[idx.x_test],
                 y[idx.x_test], normalization, names)
    ds.preprocessing = {"kind": "text", "tokenizer": tok.model_dump(), "vocab_file": VOCAB_FILE,
                        "input": f"token ids: see tokenizer (id 0 pads, id 1 unknown word, {VOCAB_FILE} line i = id i)"}
    return ds
