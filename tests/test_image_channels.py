"""A user's image folder keeps its channels: colour stays colour when edgekit builds the model.

The data: red and green squares on the same grey noise, the square's place random; the class is
only in the colour. Red (200, 0, 0) and green (0, 200, 0) have the same grey level, so a model
reading them as grey (what `edgekit train cnn` did: cnn's default input is 28x28x1) cannot tell
them apart; built for three channels it can.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

SIDE = 16


def _colour_squares(root, per_class: int = 30, seed: int = 3):
    rng = np.random.default_rng(seed)
    for name, colour in (("red", (200, 0, 0)), ("green", (0, 200, 0))):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            img = np.clip(rng.normal(110, 20, (SIDE, SIDE, 1)).repeat(3, axis=-1), 0, 255)
            y, x = rng.integers(0, SIDE - 6, 2)
            img[y:y + 6, x:x + 6] = colour
            Image.fromarray(img.astype(np.uint8), "RGB").save(root / name / f"{i:02d}.png")
    return root


def test_folder_channels_are_its_own_and_a_fixed_model_says_what_it_loses(tmp_path):
    from edgekit.data import load_dataset

    colour = _colour_squares(tmp_path / "colour")
    assert load_dataset(colour).input_shape == (SIDE, SIDE, 3)
    grey = tmp_path / "grey"
    for name in ("a", "b"):
        (grey / name).mkdir(parents=True)
        for i in range(10):  # grey content saved as RGB: still one channel's worth
            Image.fromarray(np.full((SIDE, SIDE, 3), 20 * i, np.uint8), "RGB").save(grey / name / f"{i}.png")
    assert load_dataset(grey).input_shape == (SIDE, SIDE, 1)
    # a model whose channels are fixed (a loaded one): converted, in one line that says what is lost
    said: list[str] = []
    ds = load_dataset(colour, input_shape=(SIDE, SIDE, 1), warn=said.append)
    assert ds.input_shape == (SIDE, SIDE, 1) and len(said) == 1 and "\n" not in said[0]
    assert "in colour (3 channels) but the model takes 1" in said[0] and "lost" in said[0]
    # read as grey, a red and a green square are the same grey: the classes differ only by noise
    both = load_dataset(colour)
    by_class = [both.x_train[both.y_train == k].mean(axis=(0, 1, 2)) for k in (0, 1)]  # green, red
    assert by_class[1][0] - by_class[0][0] > 0.1 and by_class[0][1] - by_class[1][1] > 0.1
    grey_means = [float(ds.x_train[ds.y_train == k].mean()) for k in (0, 1)]
    assert abs(grey_means[0] - grey_means[1]) < 0.02


def test_train_cnn_on_colour_images_builds_a_colour_model(tmp_path):
    import edgekit
    from rich.console import Console

    data = _colour_squares(tmp_path / "squares")
    (tmp_path / "quick.toml").write_text("tensorboard = false\n")
    log = io.StringIO()
    res = edgekit.train("cnn", data, out=tmp_path / "run", resolution=SIDE, epochs=8, config=tmp_path / "quick.toml",
                        console=Console(file=log, width=300, soft_wrap=True))
    printed = log.getvalue()
    assert res.model.input_shape == (None, SIDE, SIDE, 3), printed
    assert "input channels: 3: the images are in colour, so cnn is built for 3 (its default is 1" in printed
    assert res.metrics["accuracy"] >= 0.9, printed  # read as grey it could only guess (0.5)
    assert res.card.input_shape[-1] == 3


def test_channels_given_are_kept(tmp_path):
    """--input-shape HxWxC fixes the channels: colour images for a grey model are converted, with the line."""
    import edgekit
    from rich.console import Console

    data = _colour_squares(tmp_path / "squares", per_class=6)
    (tmp_path / "quick.toml").write_text("tensorboard = false\n")
    log = io.StringIO()
    res = edgekit.train("cnn", data, out=tmp_path / "run", input_shape=f"{SIDE}x{SIDE}x1", epochs=1,
                        config=tmp_path / "quick.toml", console=Console(file=log, width=300, soft_wrap=True))
    assert res.model.input_shape == (None, SIDE, SIDE, 1)
    assert "note: squares: the images are in colour (3 channels) but the model takes 1" in log.getvalue()
