"""Export as named steps: the bytes that get the final name are the bytes the final check loaded and
ran (metadata included), and one export parses its .tflite once and hashes it once, the MCU bundle
included (it is built from the int8 file the export steps made, not by exporting again).

One tiny tf_keras CNN on scikit-learn's 8x8 digits, exported once per case with spies on the
flatbuffer parser, the file digest and the final check's load.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    from sklearn.datasets import load_digits

    from edgekit._tf import tf

    d = tmp_path_factory.mktemp("export_steps")
    x, y = load_digits(return_X_y=True)
    x = (x.reshape(-1, 8, 8, 1) * (255 / 16)).astype("float32")
    np.savez(d / "digits.npz", x=x, y=y)
    T = tf.keras
    T.utils.set_random_seed(0)
    m = T.Sequential([T.Input((8, 8, 1)), T.layers.Rescaling(1 / 127.5, offset=-1),
                      T.layers.Conv2D(8, 3, activation="relu"), T.layers.Flatten(),
                      T.layers.Dense(10, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy")
    m.fit(x, y, epochs=1, batch_size=64, verbose=0)
    m.save(d / "cnn.keras")
    return d


class _Spies:
    """Counts flatbuffer parses and file digests; hashes each file the final check loads, as it loads it."""

    def __init__(self, monkeypatch):
        from ai_edge_litert.tools import flatbuffer_utils as fu

        import edgekit.artifact as artifact
        import edgekit.verification.check as check

        self.parses, self.digests, self.loaded = 0, 0, []
        parse, digest, load = fu.read_model_from_bytearray, artifact._digest, check.load_checked

        def counted_parse(data):
            self.parses += 1
            return parse(data)

        def counted_digest(files):
            self.digests += 1
            return digest(files)

        def hashed_load(path, runtime, dest_name):
            self.loaded.append((dest_name, hashlib.sha256(Path(path).read_bytes()).hexdigest()))
            return load(path, runtime, dest_name)

        monkeypatch.setattr(fu, "read_model_from_bytearray", counted_parse)
        monkeypatch.setattr(artifact, "_digest", counted_digest)
        monkeypatch.setattr(check, "load_checked", hashed_load)


def test_final_bytes_are_the_checked_bytes_and_parsed_once(cnn, tmp_path, monkeypatch):
    from edgekit.artifact import sha256_of
    from edgekit.convert import STEPS, export
    from edgekit.convert.metadata import read_metadata
    from edgekit.tflite_file import read_model

    names = [s.name for s in STEPS]
    assert names.index("standard metadata") < names.index("write, load and check")  # metadata is in what is checked
    spies = _Spies(monkeypatch)
    art = export(cnn / "cnn.keras", to="tflite", precision="int8", data=cnn / "digits.npz", out=tmp_path)
    on_disk = hashlib.sha256(Path(art.path).read_bytes()).hexdigest()
    assert spies.loaded == [(Path(art.path).name, on_disk)]  # loaded once, under its temporary name
    assert art.sha256 == on_disk and art.bytes == Path(art.path).stat().st_size
    entries = {m.name.decode() if isinstance(m.name, bytes) else m.name for m in read_model(art.path).metadata}
    assert {"edgekit", "TFLITE_METADATA"} <= entries
    assert art.extra["tflite_metadata"]["packed_files"] == ["labels.txt"] and art.gpu is not None
    # What later steps of a run read from the file (digest, metadata, model) comes from that one parse.
    assert sha256_of(art.path) == on_disk and read_metadata(art.path)["labels"] == [str(i) for i in range(10)]
    assert (spies.parses, spies.digests) == (1, 0)
    # A file changed on disk is read again, not served from what the run kept of it.
    from edgekit.convert.tflite import add_metadata

    Path(art.path).write_bytes(add_metadata(Path(art.path).read_bytes(), {"labels": ["x"]}))  # in place
    assert read_metadata(art.path) == {"labels": ["x"]} and sha256_of(art.path) != on_disk


def test_mcu_bundle_is_built_from_the_exported_file_without_exporting_again(cnn, tmp_path, monkeypatch):
    import edgekit.convert as convert

    def no_loop(*a, **k):
        raise AssertionError("export_mcu called export()")

    monkeypatch.setattr(convert, "export", no_loop)
    spies = _Spies(monkeypatch)
    art, report = convert.export_mcu(cnn / "cnn.keras", cnn / "digits.npz", out=tmp_path, target=None)
    assert (tmp_path / "model_data.cc").is_file() and report.flash_bytes == art.bytes
    assert report.tflm_agreement is not None and report.tflm_agreement >= 0.95
    assert art.input.dtype == "int8" and art.format == "tflite"
    assert spies.parses == 1 and len(spies.loaded) == 1


def test_onnx_optimizer_runs_in_place_and_falls_back_only_when_a_pass_raises(cnn, tmp_path, monkeypatch):
    """tf2onnx's passes run in place (no graph copy per pass); a pass that raises there means one more
    conversion the careful way (tf2onnx then skips the pass) and a file that still passes its final
    check; a failure before the optimizer is reported after one conversion."""
    import tf2onnx

    import edgekit.convert.onnx as onnx_export
    from edgekit.convert import export
    from edgekit.errors import EdgekitError

    calls = []
    convert = onnx_export._convert

    def counted(*args):
        calls.append(os.environ.get("TF2ONNX_CATCH_ERRORS"))
        return convert(*args)

    monkeypatch.setattr(onnx_export, "_convert", counted)
    export(cnn / "cnn.keras", to="onnx", out=tmp_path / "plain")
    assert calls == ["FALSE"]  # in place, once

    class RaisingPass:
        graph_been_opt = False

        def optimize(self, graph, iteration):
            raise RuntimeError("a pass that fails")

    calls.clear()
    monkeypatch.setitem(tf2onnx.optimizer._optimizers, "raising_pass", RaisingPass)
    art = export(cnn / "cnn.keras", to="onnx", out=tmp_path / "fallback")
    assert calls == ["FALSE", None] and Path(art.path).is_file()  # then the careful way, which skips it

    calls.clear()

    def unconvertible(*args, **kwargs):
        raise ValueError("no converter for this op")

    monkeypatch.setattr(tf2onnx.convert, "process_tf_graph", unconvertible)
    with pytest.raises(EdgekitError, match="no converter for this op"):
        export(cnn / "cnn.keras", to="onnx", out=tmp_path / "refused")
    assert calls == ["FALSE"]
