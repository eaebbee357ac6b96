"""Hardware-aware tuning: keras-tuner search over a zoo family, every trial exported and measured.

    >>> from edgekit.tune import tune, TuneConfig, Budgets
    >>> res = tune("mobilenet_v2", "digits", out="runs/tune", config=TuneConfig(trials=4),
    ...            budgets=Budgets(max_latency_ms=2))

See :mod:`edgekit.tune.tuner` (objective, resume, parallel workers, the measure gate),
:mod:`edgekit.tune.space` (the search spaces) and :mod:`edgekit.tune.pareto`.
"""

from edgekit.tune.pareto import pareto_front
from edgekit.tune.space import define_space, trial_config
from edgekit.tune.tuner import Budgets, TuneConfig, TuneResult, make_tuner, tune

__all__ = ["tune", "TuneConfig", "Budgets", "TuneResult", "make_tuner", "define_space", "trial_config",
           "pareto_front"]
