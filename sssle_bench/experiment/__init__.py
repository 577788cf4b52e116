"""Experiments as a command: train every variant of a method, predict, score, compare.

An experiment file (TOML) names a dataset, a method, the configuration every
variant shares and the variants (each a set of config overrides), plus figure
groups: which variants each comparison figure shows. ``sssle-bench experiment
FILE --out DIR`` then, resumably:

1. uses the dataset at ``dataset.path``, or generates ``dataset.recipe`` into
   ``DIR/dataset`` (from ``dataset.data_home``, or from a synthetic world it
   makes in ``DIR/sources`` with ``dataset.synthetic = "small" | "medium"``);
2. trains each variant into ``DIR/models/{variant}`` (weak-sep: one model per
   background condition, each checkpointed; a finished variant is skipped);
3. predicts the test split into ``DIR/submissions/{variant}`` (only the conditions
   the variants train models for, when that is fewer than the dataset has);
4. builds the leaderboard in ``DIR/leaderboard`` (judging those conditions) and, per
   figure group, the MAE per condition with 95% CIs in ``DIR/figures/{group}.png``.

Every variant is judged on the held-out test split, never on its training split.
"""

from .run import condition_table, run_experiment
from .spec import Experiment, check_configs, load_experiment, parse_experiment, variant_config
from .status import PLAN, RUNNING, VariantStatus, experiment_status, format_status

__all__ = [
    "PLAN",
    "RUNNING",
    "Experiment",
    "VariantStatus",
    "check_configs",
    "condition_table",
    "experiment_status",
    "format_status",
    "load_experiment",
    "parse_experiment",
    "run_experiment",
    "variant_config",
]
