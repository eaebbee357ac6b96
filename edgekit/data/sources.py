"""Which loader a ``--data`` source goes to when it is audio, text or a table.

- a folder whose class subfolders hold ``.wav`` clips (and no images): :mod:`edgekit.data.audio`;
- a folder whose class subfolders hold ``.txt`` files (and no images): :mod:`edgekit.data.text`;
- a ``.csv`` file: text (a text and a label column) when ``kind="text"`` (a sequence model) or
  the saved preprocessing says so, otherwise a table (:mod:`edgekit.data.table`, needs ``target``).

Anything else returns ``None`` and :func:`edgekit.data.load_dataset` carries on (images, .npz,
built-ins).
"""

from __future__ import annotations

from pathlib import Path

from edgekit.errors import EdgekitError

OPTIONS = ("preprocessing", "frontend", "augmentation", "target", "task", "kind", "max_length")


def load_source(src: str, input_shape, seed: int, val_fraction: float, test_fraction: float, **options):
    unknown = set(options) - set(OPTIONS)
    if unknown:
        raise TypeError(f"load_dataset() got unexpected options {sorted(unknown)}")
    options = {k: v for k, v in options.items() if v is not None}
    p = Path(src)
    if not p.exists():
        return None
    prep = options.get("preprocessing") or {}
    kind = options.get("kind") or prep.get("kind")
    if p.is_dir():
        kind_of_folder = _folder_kind(p)
        if kind_of_folder == "audio":
            from edgekit.data.audio import load_audio_folder

            return load_audio_folder(p, seed, val_fraction, test_fraction, prep or None, options.get("frontend"),
                                     options.get("augmentation"))
        if kind_of_folder == "text":
            return _text(p, input_shape, seed, val_fraction, test_fraction, options)
        return None
    if p.suffix.lower() == ".csv":
        if kind in ("text", "sequence"):
            return _text(p, input_shape, seed, val_fraction, test_fraction, options)
        from edgekit.data.table import load_table

        return load_table(p, options.get("target"), seed, val_fraction, test_fraction, prep or None,
                          options.get("task"))
    return None


def _folder_kind(p: Path) -> str | None:
    """'audio' or 'text' when the class subfolders hold .wav or .txt files and no images
    (a stray readme.txt beside images leaves it an image folder, with the image loader's errors)."""
    from edgekit.data.datasets import IMAGE_SUFFIXES

    suffixes = {f.suffix.lower() for d in p.iterdir() if d.is_dir() for f in d.iterdir() if f.is_file()}
    if suffixes & IMAGE_SUFFIXES:
        return None
    if ".wav" in suffixes:
        return "audio"
    if ".txt" in suffixes:
        return "text"
    return None


def _text(p, input_shape, seed, val_fraction, test_fraction, options):
    from edgekit.data.text import load_text

    prep = options.get("preprocessing")
    if prep and prep.get("kind") == "text":
        length = prep["tokenizer"]["sequence_length"]
    elif input_shape is not None and len(tuple(input_shape)) == 1:
        length = int(tuple(input_shape)[0])
    elif input_shape is None and options.get("kind") == "text":
        length = None  # fitted to the training split's texts, at most max_length
    else:
        raise EdgekitError(f"{p}: text becomes token sequences; train a sequence model "
                           "(transformer_encoder, lstm, bilstm, seq_attention) or give input_shape=(length,).")
    return load_text(p, length, seed, val_fraction, test_fraction, prep, options.get("target"),
                     max_length=options.get("max_length"))
