"""Settings files for ``edgekit train``, ``tune`` and ``compress`` (``--config FILE``).

A settings file is TOML (``.toml``, read with the standard library's ``tomllib``) or JSON
(``.json``); its keys are the fields of the command's pydantic config, e.g. for ``train``::

    # train.toml
    epochs = 30
    batch_size = 64
    learning_rate = 0.001
    augment = false

Values are applied in this order, each overriding the one before: the config's own defaults,
the command's defaults, the file, and the flags given on the command line. An empty file (or
``{}``) means "all defaults". Every problem with a file (missing, a folder, unparseable,
unknown key, bad value) is one :class:`~edgekit.errors.EdgekitError` line naming the file and
the key, raised before any work starts.

No config field carries a path today; one that does must be resolved with
:func:`edgekit._io.inside` so that it cannot point outside the output folder.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any, Iterable

from pydantic import ValidationError

from edgekit.errors import EdgekitError

# a settings file's suffix -> its format (export formats are edgekit.formats.FORMATS)
SETTINGS_SUFFIXES = {".toml": "TOML", ".json": "JSON"}


def read_config(path: str | Path) -> dict[str, Any]:
    """The top-level table of a TOML or JSON settings file (the suffix picks the format)."""
    p = Path(path)
    if p.is_dir():
        raise EdgekitError(f"{p}: is a folder; --config takes a {' or '.join(SETTINGS_SUFFIXES)} file.")
    kind = SETTINGS_SUFFIXES.get(p.suffix.lower())
    if kind is None:
        raise EdgekitError(f"{p}: a config file must end in {' or '.join(SETTINGS_SUFFIXES)} (got {p.suffix or 'no suffix'!r}).")
    try:
        text = p.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise EdgekitError(f"{p}: no such config file.") from None
    except UnicodeDecodeError as e:
        raise EdgekitError(f"{p}: not UTF-8 text (byte {e.start}); save the config file as UTF-8.") from None
    except OSError as e:
        raise EdgekitError(f"{p}: cannot read the config file ({e.strerror or type(e).__name__}).") from None
    if not text.strip():
        return {}  # an empty file means every default (the same as {} in JSON)
    if kind == "TOML":
        import tomllib

        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:  # the message ends with "(at line L, column C)"
            raise EdgekitError(f"{p}: not valid TOML: {e}.") from None
    else:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise EdgekitError(f"{p}: not valid JSON: {e.msg} (at line {e.lineno}, column {e.colno}).") from None
        if not isinstance(doc, dict):
            raise EdgekitError(f"{p}: a JSON config must be an object of settings, got {type(doc).__name__}.")
    return doc


def load_config(path: str | Path | None, cls, overrides: dict | None = None, defaults: dict | None = None,
                flags: dict[str, str] | None = None, merge: Iterable[str] = ()):
    """Build ``cls`` (a pydantic model, or a tuple of them sharing one file) from ``path``.

    ``defaults`` (the command's own defaults) < the file < ``overrides`` (flags given
    explicitly). ``flags`` names the command-line flag of a key in error messages (default
    ``--key-name``); keys in ``merge`` hold tables whose file and flag entries are merged
    (``fixed`` of ``tune``, fed by repeatable ``--param``). Returns one instance, or a tuple in
    the order of ``cls``.
    """
    classes = tuple(cls) if isinstance(cls, (tuple, list)) else (cls,)
    allowed = allowed_keys(classes)
    file_values = {} if path is None else read_config(path)
    where = str(path)
    unknown = [k for k in file_values if k not in allowed]
    if unknown:
        k = unknown[0]
        close = difflib.get_close_matches(k, allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise EdgekitError(f"{where}: unknown key {k!r}{hint}; allowed: {', '.join(allowed)}.")
    overrides = dict(overrides or {})
    for k in merge:
        if k in overrides and isinstance(file_values.get(k), dict) and isinstance(overrides[k], dict):
            overrides[k] = {**file_values[k], **overrides[k]}
    values = {**(defaults or {}), **file_values, **overrides}
    built = []
    for c in classes:
        kw = {k: v for k, v in values.items() if k in c.model_fields}
        try:
            built.append(c(**kw))
        except ValidationError as e:
            first = e.errors()[0]
            loc = [str(x) for x in first["loc"]]
            key = loc[0] if loc else "?"
            got = first.get("input")
            if key in file_values and key not in overrides:
                raise EdgekitError(f"{where}: {'.'.join(loc)}: {first['msg']} (got {got!r}).") from None
            flag = (flags or {}).get(key, "--" + key.replace("_", "-"))
            raise EdgekitError(f"{flag}: {first['msg']} (got {got!r}).") from None
    return built[0] if len(classes) == 1 else tuple(built)


def allowed_keys(cls) -> list[str]:
    """The keys a config file for ``cls`` (a pydantic model or a tuple of them) may hold."""
    classes = tuple(cls) if isinstance(cls, (tuple, list)) else (cls,)
    return list(dict.fromkeys(k for c in classes for k in c.model_fields))


__all__ = ["read_config", "load_config", "allowed_keys", "SETTINGS_SUFFIXES"]
