"""Configuration of weak-sep: a frozen dataclass read from TOML (``paper`` / ``cpu`` presets)."""

from __future__ import annotations

import tomllib
import typing
from dataclasses import asdict, dataclass, fields
from importlib.resources import files
from typing import Any

from ...errors import SssleError
from ...paths import check_name
from ..options import check_options

#: Energy-consistency resolutions: filterbank in {linear, mel} x aggregation in {tf, frame,
#: spectrum, clip} (:func:`~.losses.consistency_loss`).
FILTERBANKS = ("linear", "mel")
AGGREGATIONS = ("tf", "frame", "spectrum", "clip")

#: One energy-consistency term: (filterbank, aggregation), or with its weight within the
#: average (filterbank, aggregation, weight); a weight of 1 is written without it.
Resolution = tuple[str, str] | tuple[str, str, float]

#: The original's three mel-40 consistency terms (its multi-resolution configs, e.g.
#: ``..._multi-mel40-timefreq-spectrum-energy-loss_lr1en4.json``: ``timefreq``,
#: ``spectrum``, ``energy``): per bin, per band over time, per clip.
MEL_RESOLUTIONS: tuple[Resolution, ...] = (("mel", "tf"), ("mel", "spectrum"), ("mel", "clip"))

#: Config keys that no longer exist, with what replaces them (a clear error for old files).
REMOVED = {
    "weight_mixture": 'list ["linear", "tf"] in energy_resolutions (every consistency term '
    "is one entry of that list, weighed by weight_consistency; docs/weak-sep.md)",
}


#: Inclusive ranges of the numeric fields (checked before any work starts).
LIMITS: dict[str, tuple[float | None, float | None]] = {
    "sample_rate": (1, None),
    "n_fft": (16, None),
    "hop": (1, None),
    "unet_channels": (1, None),
    "unet_kernel": (1, None),
    "unet_levels": (1, 8),
    "lstm_hidden": (1, None),
    "n_mels": (1, None),
    "silence_ratio": (0.0, 1.0),
    "weight_consistency": (0.0, None),
    "weight_critic": (0.0, None),
    "weight_background": (0.0, None),
    "margin": (0.0, 1.0),
    "learning_rate": (0.0, None),
    "classifier_learning_rate": (0.0, None),
    "batch_size": (1, None),
    "epochs": (1, None),
    "warm_start_epochs": (1, None),
    "classifier_epochs": (0, None),
    "classifier_patience": (1, None),
    "patience": (0, None),
    "max_train_mixtures": (1, None),
    "classifier_max_mixtures": (1, None),
    "threads": (1, None),
    "seed": (0, 2**32 - 1),
    "presence_threshold": (0.0, 1.0),
    "classifier_silence": (0.0, 1.0),
    "classifier_background": (0.0, 1.0),
}


@dataclass(frozen=True)
class WeakSepConfig:
    """Every switch and weight of the model, the losses and training.

    STFT: ``n_fft``/``hop`` in samples at ``sample_rate`` Hz (sqrt-Hann window).
    ``margin``: asymmetric margin of the consistency terms, as a fraction of each
    clip's mixture magnitude (L1) its present sources may leave unexplained; ``None`` =
    the training set's average (see ``data.training_margin``).
    """

    sample_rate: int = 16000
    n_fft: int = 512
    hop: int = 128
    unet_channels: int = 64
    unet_kernel: int = 5
    #: stride-2 levels of the U-Net; channels double per level (the original: 4, 64 -> 512)
    unet_levels: int = 4
    classifier_channels: tuple[int, int, int] = (32, 64, 128)
    #: "compact": 3x3 convs + BatchNorm on log-mel 40 (ours); "original": the original
    #: code's bias-free CRNN on linear magnitude (``networks.OriginalCRNN``).
    classifier_arch: str = "compact"
    #: Bias terms in the original CRNN (the paper's configs: true; its class default: false).
    classifier_bias: bool = False
    #: "compact": ours (input BatchNorm, LeakyReLU down, ReLU up, a 1x1 sigmoid head, input
    #: padded to a multiple of 2**levels); "original": the original code's U-Net
    #: (``networks.OriginalUNet``: ReLU throughout, transposed-conv sigmoid output block).
    separator_arch: str = "compact"
    lstm_hidden: int = 100
    n_mels: int = 40
    silence_ratio: float = 0.01
    #: Weight of the energy-consistency term: the average over ``energy_resolutions`` of
    #: each resolution's term times its own weight (the original's
    #: ``create_average_of_losses``).
    weight_consistency: float = 1.0
    #: "absolute": consistency terms as in the original, L1 of window-scaled magnitudes per
    #: non-silent element (their size follows the scene's loudness); "relative": as a
    #: fraction of the mixture's L1 at the same resolution (loudness-invariant).
    consistency_scale: str = "absolute"
    weight_critic: float = 1.0
    weight_background: float = 1.0
    #: Every energy-consistency term, each (filterbank, aggregation[, weight]); the plain
    #: mixture term of Pishdadian et al. is ("linear", "tf"); empty: none.
    energy_resolutions: tuple[Resolution, ...] = MEL_RESOLUTIONS
    margin: float | None = None
    use_margin: bool = True
    background_classification: bool = True
    learning_rate: float = 1e-4
    classifier_learning_rate: float = 1e-3
    batch_size: int = 8
    epochs: int = 50
    classifier_epochs: int = 10
    #: Stop pretraining the classifier after this many epochs without a lower validation
    #: BCE and keep its best epoch (the original: 5); None = every epoch, the last kept.
    classifier_patience: int | None = None
    patience: int = 5
    max_train_mixtures: int | None = None
    #: Training mixtures per condition the classifier is pretrained on (evenly spaced,
    #: like ``max_train_mixtures``); None: ``max_train_mixtures``. A separator trained on
    #: few mixtures for a CPU budget need not be judged by a critic that heard as few.
    classifier_max_mixtures: int | None = None
    #: torch CPU threads. 1 (default) makes training bit-reproducible for a seed;
    #: more threads are faster but their parallel reductions change the weights.
    threads: int = 1
    #: torch device for training and inference ("cpu", "cuda", ...); CPU is the tested path.
    device: str = "cpu"
    seed: int = 0
    #: One classifier, pretrained on all conditions' training mixtures and frozen, serves as
    #: the critic of every condition's separator (False: one per condition, as the original).
    shared_classifier: bool = True
    #: Near-silent clips (the batch's mixtures scaled by <= 1e-3, labelled "no class") added
    #: to classifier pretraining, as a fraction of each batch; 0 = none, as the original.
    classifier_silence: float = 0.25
    #: Background-only clips (saved background tracks of the training split's mixtures,
    #: drawn at random; needs ``--save-sources``) added to classifier pretraining as a
    #: fraction of each batch, labelled "no class": an event-free scene, a clip-level
    #: label like any other. 0 = none, as the original.
    classifier_background: float = 0.0
    #: The classifier gets one more output, "background present" (1 for mixtures of a
    #: condition with background and for background clips, 0 for ``none`` mixtures and
    #: silence); the critic then asks every separated source to hold no background and
    #: the residual to hold it (where the condition has one). False: as the original.
    background_critic: bool = False
    #: The compact classifier's log floor: "absolute" (1e-4) or "mixture" (1e-4 times the
    #: mean mel magnitude of the clip an input comes from: a separated source is judged at
    #: its mixture's scale, so turning a source down cannot hide what it holds under the
    #: floor; near-silent clips are judged at the scale of the mixture they were made from).
    classifier_floor: str = "absolute"
    #: Background conditions to train one model each for; None = every condition of the
    #: dataset (the paper trains one model per condition, each with its own margin).
    conditions: tuple[str, ...] | None = None
    #: A condition trained (or resumed) first, in the same model folder, whose separator
    #: then initialises every other condition's: a warm start from the classes' patterns
    #: learned without background. Skipped, with a log line, for a dataset without that
    #: condition. None (``""`` in TOML): every condition from its own random
    #: initialisation, as the paper.
    warm_start: str | None = None
    #: Separator epochs of the ``warm_start`` condition's model (None: ``epochs``): it
    #: learns the classes' patterns from scratch, the models started from it need fewer.
    warm_start_epochs: int | None = None
    weighting: str = "A"
    #: None: every class gets its masked level; else classes the classifier scores
    #: below this probability are predicted absent.
    presence_threshold: float | None = None

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(WeakSepConfig)
        check_options(
            "weak-sep",
            asdict(self),
            hints,
            LIMITS,
            {
                "weighting": ("A", "Z"),
                "consistency_scale": ("absolute", "relative"),
                "classifier_arch": ("compact", "original"),
                "separator_arch": ("compact", "original"),
                "classifier_floor": ("absolute", "mixture"),
            },
        )
        names = [*(self.conditions or ()), *([] if self.warm_start is None else [self.warm_start])]
        for condition in names:
            check_name(condition, "condition", "weak-sep config")
        if self.hop > self.n_fft:
            raise SssleError(f"weak-sep config: hop {self.hop} is larger than n_fft {self.n_fft}")
        object.__setattr__(
            self, "energy_resolutions", tuple(map(_resolution, self.energy_resolutions))
        )
        if len(set(r[:2] for r in self.energy_resolutions)) != len(self.energy_resolutions):
            raise SssleError("weak-sep: an energy resolution is listed twice")

    def resolutions(self) -> list[tuple[str, str, float]]:
        """``energy_resolutions`` as (filterbank, aggregation, weight), weight 1 spelt out."""
        return [(r[0], r[1], float(r[2]) if len(r) == 3 else 1.0) for r in self.energy_resolutions]

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _resolution(entry: Any) -> Resolution:
    """One ``energy_resolutions`` entry checked and in its canonical form (a weight of 1
    dropped, so ``["mel", "tf"]`` and ``["mel", "tf", 1.0]`` are one config)."""
    entry = tuple(entry) if isinstance(entry, list | tuple) else (entry,)
    if len(entry) not in (2, 3):
        raise SssleError(
            f"weak-sep: energy resolution {list(entry)!r} is not [filterbank, aggregation] "
            "or [filterbank, aggregation, weight]"
        )
    fb, agg = entry[:2]
    if fb not in FILTERBANKS or agg not in AGGREGATIONS:
        raise SssleError(
            f"weak-sep: energy resolution ({fb}, {agg}) not in {FILTERBANKS} x {AGGREGATIONS}"
        )
    if len(entry) == 2:
        return (fb, agg)
    weight = entry[2]
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 < weight < 1e6:
        raise SssleError(
            f"weak-sep: energy resolution ({fb}, {agg}) weight {weight!r} not in (0, 1e6)"
        )
    return (fb, agg) if weight == 1 else (fb, agg, float(weight))


def make_config(raw: dict[str, Any]) -> WeakSepConfig:
    """Build a config from TOML data, optionally based on ``preset = "paper" | "cpu"``."""
    raw = dict(raw)
    preset = raw.pop("preset", None)
    base: dict[str, Any] = {}
    if preset is not None:
        try:
            text = files("sssle_bench.estimators.weak_sep").joinpath(f"{preset}.toml").read_text()
        except FileNotFoundError as exc:
            raise SssleError(f"weak-sep: unknown preset {preset!r} (paper, cpu)") from exc
        base = tomllib.loads(text)
    merged = {**base, **raw}
    known = {f.name for f in fields(WeakSepConfig)}
    removed = sorted(set(merged) & set(REMOVED))
    if removed:
        raise SssleError(f"weak-sep: config key {removed[0]} was removed: {REMOVED[removed[0]]}")
    unknown = sorted(set(merged) - known)
    if unknown:
        raise SssleError(f"weak-sep: unknown config key(s) {', '.join(unknown)}")
    # TOML has arrays, the config has tuples; anything else is left for the type check.
    if isinstance(merged.get("classifier_channels"), list):
        merged["classifier_channels"] = tuple(merged["classifier_channels"])
    if merged.get("warm_start") == "":  # TOML has no null: "" switches the warm start off
        merged["warm_start"] = None
    if isinstance(merged.get("conditions"), list):
        merged["conditions"] = tuple(merged["conditions"])
    if isinstance(merged.get("energy_resolutions"), list):
        merged["energy_resolutions"] = tuple(
            tuple(r) if isinstance(r, list) else r for r in merged["energy_resolutions"]
        )
    return WeakSepConfig(**merged)
