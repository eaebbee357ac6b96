"""Hardware-aware tuning: keras-tuner search over a zoo family, every trial exported and measured.

    >>> from edgekit.tuning import tune, TuneConfig, Budgets
    >>> res = tune("mobilenet_v2", "digits", out="runs/tune", config=TuneConfig(trials=4),
    ...            budgets=Budgets(max_latency_ms=2))

See :mod:`edgekit.tuning.tuner` (objective, resume, parallel workers, the measure gate),
:mod:`edgekit.tuning.space` (the search spaces) and :mod:`edgekit.tuning.pareto`.
"""

from edgekit.tuning.pareto import pareto_front
from edgekit.tuning.space import define_space, trial_config
from edgekit.tuning.tuner import Budgets, TuneConfig, TuneResult, make_tuner, tune

__all__ = ["tune", "TuneConfig", "Budgets", "TuneResult", "make_tuner", "define_space", "trial_config",
           "pareto_front"]
