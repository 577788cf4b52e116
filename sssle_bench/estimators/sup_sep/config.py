"""sup-sep's config: the separator fields it takes from weak-sep's presets, its own
training fields and their limits (``SupSepConfig``, ``make_sup_config``)."""

from __future__ import annotations

import typing
from dataclasses import asdict, dataclass, fields
from typing import Any

from ...errors import SssleError
from ...paths import check_name
from ..options import check_options
from ..weak_sep.config import LIMITS as WEAK_LIMITS
from ..weak_sep.config import make_config

#: The fields sup-sep takes from weak-sep's preset of the same name: the separator
#: network and its STFT (one home for the presets' widths).
SEPARATOR_FIELDS = (
    "sample_rate",
    "n_fft",
    "hop",
    "unet_channels",
    "unet_kernel",
    "unet_levels",
    "separator_arch",
    "silence_ratio",
)

#: Learning rate per preset: weak-sep cpu's 3e-3, and the original's supervised 1e-4.
LEARNING_RATES = {"cpu": 3e-3, "paper": 1e-4}


def preset_values(name: str) -> dict[str, Any]:
    """The config values of sup-sep preset ``name`` (``cpu`` or ``paper``): weak-sep's
    separator fields and warm start, and the preset's learning rate."""
    if name not in LEARNING_RATES:
        raise SssleError(f"sup-sep: unknown preset {name!r} (cpu, paper)")
    weak = make_config({"preset": name})
    values = {k: getattr(weak, k) for k in (*SEPARATOR_FIELDS, "warm_start")}
    return {**values, "learning_rate": LEARNING_RATES[name]}


#: Inclusive ranges of the numeric fields: the separator's as weak-sep's, then training's.
LIMITS: dict[str, tuple[float | None, float | None]] = {
    **{k: WEAK_LIMITS[k] for k in SEPARATOR_FIELDS if k in WEAK_LIMITS},
    "learning_rate": (0.0, 1.0),
    "batch_size": (1, 4096),
    "epochs": (1, 100000),
    "patience": (0, None),
    "max_train_mixtures": (1, None),
    "threads": (1, 1024),
    "seed": (0, 2**32 - 1),
}


@dataclass(frozen=True)
class SupSepConfig:
    """Separator, STFT (``n_fft``/``hop`` samples at ``sample_rate`` Hz), loss and training."""

    sample_rate: int = 16000
    n_fft: int = 512
    hop: int = 128
    unet_channels: int = 4
    unet_kernel: int = 5
    unet_levels: int = 3
    #: "compact" or "original" (weak-sep's ``separator_arch``)
    separator_arch: str = "compact"
    #: frames below this fraction of the clip's loudest frame (magnitude sum) are left out
    silence_ratio: float = 0.01
    #: the original's per-frame inverse class-prior weights (its supervised configs: true)
    class_prior_weighting: bool = True
    #: "l1": the original's |S - X M|; "l2": (S - X M)^2 over the clip's mean mixture
    #: magnitude, an ablation (a bin's mean ratio instead of its median; see
    #: :func:`separation_terms`)
    distance: str = "l1"
    learning_rate: float = 3e-3
    batch_size: int = 8
    epochs: int = 50
    patience: int = 5
    #: training (and validation) mixtures per condition, evenly spaced; None = all
    max_train_mixtures: int | None = None
    threads: int = 1
    device: str = "cpu"
    seed: int = 0
    #: conditions to train one model each for; None = every condition of the dataset
    conditions: tuple[str, ...] | None = None
    #: a condition trained (or resumed) first whose best separator starts every other
    #: condition's (skipped, with a log line, where the dataset lacks it); None (``""``
    #: in TOML): each condition from its own random initialisation
    warm_start: str | None = None
    weighting: str = "A"

    def __post_init__(self) -> None:
        check_options(
            "sup-sep",
            asdict(self),
            typing.get_type_hints(SupSepConfig),
            LIMITS,
            {
                "weighting": ("A", "Z"),
                "separator_arch": ("compact", "original"),
                "distance": ("l1", "l2"),
            },
        )
        warm = [] if self.warm_start is None else [self.warm_start]
        for condition in (*(self.conditions or ()), *warm):
            check_name(condition, "condition", "sup-sep config")
        if self.hop > self.n_fft:
            raise SssleError(f"sup-sep config: hop {self.hop} is larger than n_fft {self.n_fft}")

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def make_sup_config(raw: dict[str, Any]) -> SupSepConfig:
    """A config from TOML data, optionally based on ``preset = "cpu" | "paper"``."""
    raw = dict(raw)
    preset = raw.pop("preset", None)
    merged = {**({} if preset is None else preset_values(preset)), **raw}
    unknown = sorted(set(merged) - {f.name for f in fields(SupSepConfig)})
    if unknown:
        raise SssleError(f"sup-sep: unknown config key(s) {', '.join(unknown)}")
    if isinstance(merged.get("conditions"), list):
        merged["conditions"] = tuple(merged["conditions"])
    if merged.get("warm_start") == "":  # TOML has no null: "" switches the warm start off
        merged["warm_start"] = None
    return SupSepConfig(**merged)
