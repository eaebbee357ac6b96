"""Search spaces: one per model family, plus the training knobs every search shares.

A space is declared on a ``keras_tuner.HyperParameters`` object (so every oracle, random,
Bayesian or Hyperband, can sample it) and read back with :func:`trial_config`, which turns
one trial's values into what :func:`edgekit.models.create_model` and the trainer need
(:func:`edgekit.tuning.trial.train_config` makes the trial's TrainConfig from it)::

    hp = define_space("mobilenet_v2", fixed={"alpha": 0.35})
    cfg = trial_config("mobilenet_v2", hp.values)   # TrialConfig(model, knobs, resolution, ...)

The spaces search the knobs the zoo exposes; every choice is kept small enough for ``digits``
(resolutions 32 and 48):

=============  ===========================================================================
family         hyperparameters
=============  ===========================================================================
mobilenet      ``alpha``; ``resolution``; ``depth_multiplier`` (V1); ``expansion`` (V2, 3/4/6);
               ``minimalistic`` (V3); ``dropout``
resnet         ``blocks`` (1 or 3 basic blocks per stage: resnet8 / resnet20; 2-2-2-2 or
               3-4-6-3 for the ImageNet ResNets: resnet18 / resnet34); ``resnet_d``; ``l2``
               (CIFAR ResNets); ``width`` (multiplier on every stage, 0.25/0.5/1.0); ``dropout``;
               ``resolution``
transformer    ``num_layers`` (``depth`` for ViT), ``num_heads``, ``embed_dim``, ``ff_mult``
               (feed-forward width = ``ff_mult * embed_dim``), ``patch_size`` (ViT), ``dropout``
mlp            ``num_layers``, ``units_0..2``, ``activation``, ``dropout``, ``l2`` (perceptron: ``l2``)
cnn            ``filters`` (base width, doubled per block), ``blocks``, ``dense_units``, ``dropout``
ds_cnn         ``filters``, ``blocks``, ``dropout``
training       ``optimizer`` (sgd | rmsprop | adam | adamw); ``learning_rate`` (per optimizer
               range); ``momentum``, ``nesterov`` (sgd); ``rmsprop_momentum``; ``weight_decay``
               (adamw); ``schedule`` (constant | cosine | exponential); ``batch_size``
=============  ===========================================================================

``fixed`` pins any of these names to one value (``hp.Fixed``): the oracles then search the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgekit._deps import require
from edgekit.errors import EdgekitError

OPTIMIZERS = ("sgd", "rmsprop", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "exponential")
# Learning-rate ranges (log-uniform) by optimizer: SGD wants roughly 10x the adaptive methods.
LR_RANGES = {"sgd": (1e-2, 2e-1), "rmsprop": (3e-4, 5e-3), "adam": (5e-4, 1e-2), "adamw": (5e-4, 1e-2)}
RESOLUTIONS = (32, 48)
TUNABLE_FAMILIES = ("mobilenet", "resnet", "transformer", "mlp", "cnn", "ds_cnn")

# Registry names that stand for a depth choice inside a ResNet family.
_RESNET_BLOCKS = {
    "resnet8": {1: "resnet8", 3: "resnet20"},
    "resnet20": {1: "resnet8", 3: "resnet20"},
    "resnet18": {2: "resnet18", 3: "resnet34"},
    "resnet34": {2: "resnet18", 3: "resnet34"},
}


@dataclass(frozen=True)
class TrialConfig:
    """What one trial's hyperparameter values mean: the model to build and how to train it."""

    model: str  # registry name (a ResNet's ``blocks`` choice may change it)
    knobs: dict
    resolution: int | None  # square image side, None for non-image inputs
    optimizer: str
    learning_rate: float
    schedule: str
    batch_size: int
    optimizer_options: dict = field(default_factory=dict)


def _tunable_spec(name: str):
    from edgekit.models import get_spec

    spec = get_spec(name)
    if spec.task != "classification":
        raise EdgekitError(f"tuning supports classification models; {name!r} is a {spec.task} model.")
    if spec.family not in TUNABLE_FAMILIES:
        raise EdgekitError(f"no search space for {name!r} (family {spec.family!r}); tunable families: "
                           f"{', '.join(TUNABLE_FAMILIES)}.")
    return spec


def define_space(name: str, fixed: dict | None = None, hp=None):
    """Declare the model family's space and the training space on ``hp`` (a new one by default)."""
    kt = require("keras_tuner", "tuning")

    spec = _tunable_spec(name)
    hp = hp if hp is not None else kt.HyperParameters()
    known = set(_declared_names(name))
    for k, v in (fixed or {}).items():
        if k not in known:
            raise EdgekitError(f"fixed hyperparameter {k!r} is not in the {name} space; its names are: "
                               f"{', '.join(sorted(known))}.")
        hp.Fixed(k, v)
    _MODEL_SPACES[spec.family](hp, name, spec)
    _training_space(hp)
    return hp


def _declared_names(name: str) -> list[str]:
    import keras_tuner as kt

    hp = kt.HyperParameters()
    spec = _tunable_spec(name)
    _MODEL_SPACES[spec.family](hp, name, spec)
    _training_space(hp)
    return [p.name for p in hp.space]


def _resolution(hp, spec):
    if spec.input_kind == "image":
        hp.Choice("resolution", list(RESOLUTIONS))


def _mobilenet(hp, name, spec):
    hp.Choice("alpha", [0.25, 0.5, 0.75] if name == "mobilenet_v1" else [0.35, 0.5, 0.75])
    _resolution(hp, spec)
    if name == "mobilenet_v1":
        hp.Choice("depth_multiplier", [1, 2])
    if name == "mobilenet_v2":
        hp.Choice("expansion", [3, 4, 6])
    if name.startswith("mobilenet_v3"):
        hp.Boolean("minimalistic")
    hp.Choice("dropout", [0.0, 0.2])


def _resnet(hp, name, spec):
    if name in _RESNET_BLOCKS:
        hp.Choice("blocks", sorted(_RESNET_BLOCKS[name]))
    hp.Choice("width", [0.25, 0.5, 1.0])
    hp.Boolean("resnet_d")
    if "l2" in spec.knobs:
        hp.Choice("l2", [0.0, 1e-4, 1e-3])
    hp.Choice("dropout", [0.0, 0.2])
    _resolution(hp, spec)


def _transformer(hp, name, spec):
    hp.Int("num_layers", 1, 4)
    hp.Choice("num_heads", [2, 4])
    hp.Choice("embed_dim", [32, 64, 128])  # divisible by every head count
    hp.Choice("ff_mult", [2, 4])
    if name == "vit_tiny":
        hp.Choice("patch_size", [4, 8])
        _resolution(hp, spec)
    hp.Choice("dropout", [0.0, 0.1])


def _mlp(hp, name, spec):
    if name == "perceptron":  # no hidden layers: only its regularization is left to search
        hp.Choice("l2", [0.0, 1e-5, 1e-4, 1e-3])
        return
    hp.Int("num_layers", 1, 3)
    for i in range(3):
        hp.Choice(f"units_{i}", [32, 64, 128, 256])
    hp.Choice("activation", ["relu", "swish", "tanh"])
    hp.Float("dropout", 0.0, 0.5, step=0.1)
    hp.Choice("l2", [0.0, 1e-5, 1e-4, 1e-3])


def _cnn(hp, name, spec):
    hp.Choice("filters", [8, 16, 32])
    hp.Int("blocks", 1, 3)
    hp.Choice("dense_units", [0, 64, 128])
    hp.Choice("dropout", [0.0, 0.25])


def _ds_cnn(hp, name, spec):
    hp.Choice("filters", [32, 64])
    hp.Int("blocks", 2, 4)
    hp.Choice("dropout", [0.0, 0.2])


_MODEL_SPACES = {"mobilenet": _mobilenet, "resnet": _resnet, "transformer": _transformer, "mlp": _mlp,
                 "cnn": _cnn, "ds_cnn": _ds_cnn}


def _training_space(hp):
    hp.Choice("optimizer", list(OPTIMIZERS))
    for o in OPTIMIZERS:
        lo, hi = LR_RANGES[o]
        with hp.conditional_scope("optimizer", [o]):
            hp.Float(f"lr_{o}", lo, hi, sampling="log")
    with hp.conditional_scope("optimizer", ["sgd"]):
        hp.Choice("momentum", [0.8, 0.9, 0.95])
        hp.Boolean("nesterov")
    with hp.conditional_scope("optimizer", ["rmsprop"]):
        hp.Choice("rmsprop_momentum", [0.0, 0.9])
    with hp.conditional_scope("optimizer", ["adamw"]):
        hp.Choice("weight_decay", [1e-5, 1e-4, 1e-3])
    hp.Choice("schedule", list(SCHEDULES))
    hp.Choice("batch_size", [32, 64])


def trial_config(name: str, values: dict) -> TrialConfig:
    """Map one trial's values to the model name, builder knobs and training choices."""
    spec = _tunable_spec(name)
    v = dict(values)
    fam = spec.family
    model, knobs = name, {}
    if fam == "mobilenet":
        knobs = {"alpha": v["alpha"], "dropout": v["dropout"]}
        for k in ("depth_multiplier", "expansion", "minimalistic"):
            if k in v:
                knobs[k] = v[k]
    elif fam == "resnet":
        if "blocks" in v:
            model = _RESNET_BLOCKS[name][v["blocks"]]
        knobs = {"width": v["width"], "resnet_d": v["resnet_d"], "dropout": v["dropout"]}
        if "l2" in v:
            knobs["l2"] = v["l2"]
    elif fam == "transformer":
        dim = v["embed_dim"]
        if name == "vit_tiny":
            knobs = {"depth": v["num_layers"], "num_heads": v["num_heads"], "embed_dim": dim,
                     "mlp_dim": dim * v["ff_mult"], "patch_size": v["patch_size"], "dropout": v["dropout"]}
        else:
            knobs = {"num_layers": v["num_layers"], "num_heads": v["num_heads"], "embed_dim": dim,
                     "ff_dim": dim * v["ff_mult"], "dropout": v["dropout"]}
    elif name == "perceptron":
        knobs = {"l2": v["l2"]}
    elif fam == "mlp":
        knobs = {"hidden_units": tuple(v[f"units_{i}"] for i in range(v["num_layers"])),
                 "activation": v["activation"], "dropout": round(float(v["dropout"]), 3), "l2": v["l2"]}
    elif fam == "cnn":
        knobs = {"filters": tuple(v["filters"] * 2 ** i for i in range(v["blocks"])),
                 "dense_units": (v["dense_units"],) if v["dense_units"] else (), "dropout": v["dropout"]}
    elif fam == "ds_cnn":
        knobs = {"filters": v["filters"], "blocks": v["blocks"], "dropout": v["dropout"]}
    opt = v["optimizer"]
    options = {}
    if opt == "sgd":
        options = {"momentum": v["momentum"], "nesterov": bool(v["nesterov"])}
    if opt == "rmsprop":
        options["momentum"] = v["rmsprop_momentum"]
    if opt == "adamw":
        options["weight_decay"] = v.get("weight_decay", 1e-4)
    return TrialConfig(model=model, knobs=knobs, resolution=v.get("resolution"), optimizer=opt,
                       learning_rate=float(v[f"lr_{opt}"]), schedule=v["schedule"], batch_size=int(v["batch_size"]),
                       optimizer_options=options)
