"""weak-sep: every loss term on hand-made tensors, seeding, resume, training (needs torch)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch  # the [model] extra; `make test` installs it (CPU build)

from sssle_bench.audio import read_audio
from sssle_bench.dataset import background_tracks
from sssle_bench.errors import SssleError
from sssle_bench.estimators.run import train
from sssle_bench.estimators.weak_sep import data, losses
from sssle_bench.estimators.weak_sep.config import make_config
from sssle_bench.estimators.weak_sep.networks import (
    folded_for_inference,
    make_separator,
    mel_filterbank,
)
from sssle_bench.estimators.weak_sep.objective import objective_at_reference_masks
from sssle_bench.levels import to_mono
from sssle_bench.metrics import roc_auc


def untimed(history: dict) -> dict:
    """A training history without its wall-clock epoch seconds (which differ per run)."""
    return {
        condition: {
            **record,
            "epochs": [
                {k: v for k, v in epoch.items() if k != "seconds"} for epoch in record["epochs"]
            ],
        }
        for condition, record in history.items()
    }


def hand_made():
    """One clip, 2 bins x 2 frames of magnitude 1; mask 0.5 for class 0, 0.25 for class 1."""
    x = torch.ones(1, 2, 2)
    masks = torch.stack([torch.full((2, 2), 0.5), torch.full((2, 2), 0.25)])[None]
    labels = torch.tensor([[1.0, 0.0]])
    frames = torch.ones(1, 2)
    return x, masks, labels, frames


def test_mixture_term_is_the_l1_residual_over_non_silent_bins():
    x, masks, labels, frames = hand_made()
    # per bin: |1 - 0.5| for the present class + |0.25| given to the absent one
    assert float(losses.consistency_loss(x, masks, labels, frames)) == pytest.approx(0.75)
    # silent frames do not count, in the sum nor in the count of bins
    frames = torch.tensor([[1.0, 0.0]])
    x2 = x.clone()
    x2[:, :, 1] = 100.0
    assert float(losses.consistency_loss(x2, masks, labels, frames)) == pytest.approx(0.75)
    # absolute, not relative: twice the magnitude, twice the loss (the original's L1)
    assert float(losses.consistency_loss(2 * x, masks, labels, torch.ones(1, 2))) == (
        pytest.approx(1.5)
    )


def test_mixture_margin_on_hand_made_values():
    x, masks, labels, frames = hand_made()

    def loss(m, margin):
        return float(losses.consistency_loss(x, m, labels, frames, None, "tf", margin))

    # residual 1 - 0.5 = 0.5 per bin: a 0.3 margin leaves 0.2; the absent class's 0.25 stays
    assert loss(masks, 0.3) == pytest.approx(0.45)
    # a residual within the margin costs nothing; overestimating always costs
    assert loss(masks, 0.6) == pytest.approx(0.25)
    over = torch.stack([torch.full((2, 2), 1.5), torch.zeros(2, 2)])[None]
    assert loss(over, 0.6) == pytest.approx(0.5)
    # zero margin: the plain mixture term
    assert loss(masks, 0.0) == loss(masks, None)


def test_consistency_aggregations_differ_where_errors_cancel():
    x, _, labels, frames = hand_made()
    absent = torch.zeros(2, 2)

    def loss(present, aggregation, fb=None):
        m = torch.stack([present, absent])[None]
        return float(losses.consistency_loss(x, m, labels, frames, fb, aggregation))

    # over- and under-estimates within each frame (rows are bins, columns frames)
    within_frames = torch.tensor([[1.5, 0.5], [0.5, 1.5]])
    assert loss(within_frames, "tf") == pytest.approx(0.5)
    assert loss(within_frames, "frame") == pytest.approx(0.0)
    assert loss(within_frames, "clip") == pytest.approx(0.0)
    # ... and across frames: only the clip level lets them cancel
    across_frames = torch.tensor([[1.5, 0.5], [1.5, 0.5]])
    assert loss(across_frames, "frame") == pytest.approx(0.5)
    assert loss(across_frames, "clip") == pytest.approx(0.0)
    # a filterbank sums magnitudes into bands: one band of both bins holds 2, the source 1
    one_band = torch.tensor([[1.0, 1.0]])
    assert loss(torch.full((2, 2), 0.5), "tf", one_band) == pytest.approx(1.0)


def test_magnitude_margin_covers_the_oracle_masks_residual():
    """Sources with 1 - m of the energy: amplitude masks sum to at least sqrt(1 - m)."""
    assert data.magnitude_margin(0.0) == 0.0 and data.magnitude_margin(1.0) == 1.0
    assert data.magnitude_margin(0.75) == pytest.approx(0.5)
    rng = np.random.default_rng(0)
    for _ in range(100):
        e = rng.random(4)  # three sources and a background, energies in one bin
        m = e[3] / e.sum()
        residual = 1 - np.sqrt(e[:3] / e.sum()).sum()
        assert residual <= data.magnitude_margin(m) + 1e-12


def test_non_silent_frames_by_magnitude_sum():
    # frame magnitude sums 1, 0.05, 0.005, 0: >= 1 % of the largest keeps the first two
    x = torch.tensor([[[1.0, 0.05, 0.005, 0.0]]])
    assert losses.non_silent_frames(x, 0.01).tolist() == [[1.0, 1.0, 0.0, 0.0]]
    # two bins of 0.006 sum to 0.012: a frame counts by its sum over frequency
    x = torch.tensor([[[1.0, 0.006], [0.0, 0.006]]])
    assert losses.non_silent_frames(x, 0.01).tolist() == [[1.0, 1.0]]


def test_classifier_losses():
    labels = torch.tensor([[1.0, 0.0]])
    perfect = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    assert float(losses.critic_loss(perfect, labels)) == pytest.approx(0.0, abs=1e-6)
    half = torch.full((1, 2, 2), 0.5)
    # ln 2 per separated source, summed over the 2 sources
    assert float(losses.critic_loss(half, labels)) == pytest.approx(2 * math.log(2), abs=1e-6)
    # source 0 (present) says class 1 with 0.5: -ln(0.5)/2 for it alone
    one_wrong = torch.tensor([[[1.0, 0.5], [0.0, 0.0]]])
    assert float(losses.critic_loss(one_wrong, labels)) == pytest.approx(math.log(2) / 2, abs=1e-6)
    assert float(losses.background_loss(torch.zeros(1, 2))) == pytest.approx(0.0, abs=1e-6)
    assert float(losses.background_loss(torch.full((1, 2), 0.5))) == pytest.approx(math.log(2))


def test_dataset_margin():
    assert data.dataset_margin([1.0, 2.0], [0.5, 2.0]) == pytest.approx(0.25)
    assert data.dataset_margin([1.0], [3.0]) == 0.0


def test_mel_filterbank_shape_and_partition():
    fb = mel_filterbank(16000, 512, 40)
    assert fb.shape == (40, 257) and fb.min() >= 0 and fb.max() <= 1
    assert np.all(fb[:, 10:200].sum(axis=0) > 0.5)


@pytest.mark.parametrize("arch,levels", [("compact", 3), ("original", 3)])
def test_the_inference_copy_folds_batch_norms_and_gives_the_same_masks(arch, levels):
    config = make_config({"separator_arch": arch, "unet_channels": 4, "unet_levels": levels})
    torch.manual_seed(0)
    net = make_separator(config, 3)
    net.train()
    with torch.no_grad():  # BatchNorm statistics far from the identity
        for _ in range(3):
            net(torch.randn(2, 1, 257, 67) * 3 + 1)
    net.eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    folded = folded_for_inference(net)
    x = torch.randn(2, 1, 257, 67)
    with torch.no_grad():
        masks, fast = net(x), folded(x)
    assert torch.allclose(fast, masks, atol=1e-6) and not torch.equal(fast, torch.zeros_like(fast))
    norms = [m for m in folded.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    # only the compact U-Net's input normalisation follows no convolution
    assert len(norms) == (1 if arch == "compact" else 0)
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    assert net.training is False and any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())


def test_config_presets_and_errors():
    cpu, paper = make_config({"preset": "cpu"}), make_config({"preset": "paper"})
    assert paper.unet_channels == 64 and paper.lstm_hidden == 100 and paper.epochs == 50
    assert paper.learning_rate == 1e-4 and paper.batch_size == 8 and paper.patience == 5
    assert cpu.unet_channels < paper.unet_channels
    from sssle_bench.errors import SssleError

    with pytest.raises(SssleError, match="unknown config key"):
        make_config({"colour": 1})
    with pytest.raises(SssleError, match="energy resolution"):
        make_config({"energy_resolutions": [["bark", "tf"]]})


QUICK = {
    "preset": "cpu",
    "epochs": 2,
    "classifier_epochs": 1,
    "batch_size": 4,
    "conditions": ["none", "bg-20"],
}


def weights(folder: Path) -> dict:
    """Separator weights by condition."""
    saved = torch.load(folder / "model.pt", weights_only=True)["conditions"]
    return {condition: nets["separator"] for condition, nets in saved.items()}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[c][k], b[c][k]) for c in a for k in a[c])


def test_same_seed_same_weights_and_resume(toy_dataset: Path, tmp_path: Path):
    cold = {**QUICK, "warm_start": None}  # each condition resumes on its own
    train("weak-sep", toy_dataset, tmp_path / "a", cold)
    train("weak-sep", toy_dataset, tmp_path / "b", cold)
    a, b = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert set(a) == {"none", "bg-20"} and same(a, b)
    # interrupted after epoch 1, resumed: the same weights as the uninterrupted run
    train("weak-sep", toy_dataset, tmp_path / "c", {**cold, "epochs": 1})
    logs = []
    from sssle_bench.estimators import estimator_class

    est = estimator_class("weak-sep")(**cold)
    est.workdir, est.log = tmp_path / "c", logs.append
    from sssle_bench.dataset import GeneratedDataset

    est.fit(GeneratedDataset(toy_dataset))
    est.save(tmp_path / "c")
    assert sum(line.startswith("resuming from") for line in logs) == 2
    assert same(a, weights(tmp_path / "c"))
    for condition, history in est.state["history"].items():
        assert history["condition"] == condition and len(history["epochs"]) == 2
        assert set(history["epochs"][0]["train"]) == {
            "consistency",
            "critic",
            "background",
            "total",
        }


def test_one_model_per_condition_with_its_own_margin(toy_dataset: Path, tmp_path: Path):
    """Each condition's margin is its own training set's; predict routes by condition."""
    from sssle_bench.dataset import GeneratedDataset, MixtureInfo
    from sssle_bench.estimators import estimator_class
    from sssle_bench.estimators.weak_sep.data import training_margin

    ds = GeneratedDataset(toy_dataset)
    est = train("weak-sep", toy_dataset, tmp_path / "m", {**QUICK, "epochs": 1})
    margins = {c: h["margin"] for c, h in est.state["history"].items()}
    assert margins == {c: pytest.approx(training_margin(ds, "train", c, est.cfg)) for c in margins}
    assert margins["none"] < 0.05 < margins["bg-20"]
    loaded = estimator_class("weak-sep").load(tmp_path / "m")
    audio = next(ds.mixtures("test")).audio
    info = {c: MixtureInfo("m", "test", c, {}) for c in ("none", "bg-20")}
    by_model = {c: loaded.predict(audio, 16000, info[c]) for c in info}
    assert by_model["none"].levels != by_model["bg-20"].levels  # two models, two answers
    both = loaded.predict_batch([audio, audio], 16000, [info["bg-20"], info["none"]])
    assert [p.levels for p in both] == [by_model["bg-20"].levels, by_model["none"].levels]
    assert [p.lafmax for p in both] == [by_model["bg-20"].lafmax, by_model["none"].lafmax]
    for got, want in zip(both, (by_model["bg-20"], by_model["none"]), strict=True):
        assert all(np.array_equal(got.intervals[c], want.intervals[c]) for c in ds.classes)
        assert all(got.intervals[c].size == 4 for c in ds.classes)  # 4 s: four 1 s intervals
    with pytest.raises(SssleError, match="no model for condition 'bg0'"):
        loaded.predict(audio, 16000, MixtureInfo("m", "test", "bg0", {}))


def test_conditions_trained_in_parallel_have_the_serial_weights(toy_dataset: Path, tmp_path):
    """``train --jobs 2`` trains the conditions in two processes: the same weights (and
    histories) as one after the other, each condition being seeded on its own."""
    serial = train("weak-sep", toy_dataset, tmp_path / "serial", {**QUICK, "epochs": 1})
    parallel = train("weak-sep", toy_dataset, tmp_path / "par", {**QUICK, "epochs": 1}, jobs=2)
    assert same(weights(tmp_path / "serial"), weights(tmp_path / "par"))
    assert untimed(serial.state["history"]) == untimed(parallel.state["history"])
    assert (tmp_path / "par" / "conditions" / "bg-20" / "checkpoint.pt").is_file()


def test_a_warm_start_begins_every_other_condition_from_the_first_ones_separator(
    toy_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """``warm_start = "none"``: the none model trains first and its trained separator is
    where bg-20's starts; ``fit`` starts a fresh separator from the weights it is given."""
    from sssle_bench.dataset import GeneratedDataset
    from sssle_bench.estimators import estimator_class
    from sssle_bench.estimators.weak_sep import estimator as module
    from sssle_bench.estimators.weak_sep.train import fit

    given = {}

    def spy(config, dataset, split, workdir, log, condition, shared, init=None):
        given[condition] = init
        return fit(config, dataset, split, workdir, log, condition, shared, init)

    monkeypatch.setattr(module, "fit", spy)
    warm = train("weak-sep", toy_dataset, tmp_path / "w", QUICK)  # cpu preset: warm_start none
    assert given["none"] is None and warm.state["history"]["bg-20"]["warm_start"] == "none"
    trained = warm.models["none"].separator.state_dict()
    assert all(torch.equal(given["bg-20"][k], trained[k]) for k in trained)
    # fit: with a learning rate of 0 the separator keeps the weights it started from
    config = make_config({**QUICK, "epochs": 1, "learning_rate": 0.0})
    start = {k: v + 0.5 for k, v in trained.items()}
    model, _ = fit(
        config, GeneratedDataset(toy_dataset), "train", None, lambda s: None, "bg-20", None, start
    )
    for name, value in model.separator.named_parameters():
        assert torch.equal(value, start[name]), name
    # the none model trained on: bg-20's checkpoint started elsewhere and trains again, to
    # the weights of an uninterrupted run
    train("weak-sep", toy_dataset, tmp_path / "x", {**QUICK, "epochs": 1})
    logs: list[str] = []
    est = estimator_class("weak-sep")(**QUICK)
    est.workdir, est.log = tmp_path / "x", logs.append
    est.fit(GeneratedDataset(toy_dataset))
    est.save(tmp_path / "x")
    assert any("did not start from this warm start: training bg-20 again" in x for x in logs)
    assert same(weights(tmp_path / "x"), weights(tmp_path / "w"))
    # one condition asked for: its warm start is trained first (or resumed), not saved
    alone = train("weak-sep", toy_dataset, tmp_path / "w", {**QUICK, "conditions": ["bg-50"]})
    assert list(alone.models) == ["bg-50"] and given["bg-50"] is not None
    assert all(torch.equal(given["bg-50"][k], trained[k]) for k in trained)  # none resumed


def test_the_warm_start_model_trains_its_own_number_of_epochs(toy_dataset: Path, tmp_path: Path):
    """``warm_start_epochs``: the none model (from scratch) gets 3 epochs, bg-20 (started
    from it) the config's 1."""
    config = {**QUICK, "epochs": 1, "warm_start_epochs": 3, "conditions": ["none", "bg-20"]}
    est = train("weak-sep", toy_dataset, tmp_path / "m", config)
    history = est.state["history"]
    assert [len(history[c]["epochs"]) for c in ("none", "bg-20")] == [3, 1]
    assert history["bg-20"]["warm_start"] == "none"


def test_train_one_condition_from_the_command_line(toy_dataset: Path, tmp_path: Path):
    from click.testing import CliRunner

    from sssle_bench.cli import main

    config = tmp_path / "c.toml"
    config.write_text('preset = "cpu"\nepochs = 1\nclassifier_epochs = 1\n')
    args = ["train", "weak-sep", str(toy_dataset), "--out", str(tmp_path / "m")]
    ok = CliRunner().invoke(main, [*args, "--config", str(config), "--condition", "bg-50"])
    assert ok.exit_code == 0, ok.output
    assert set(weights(tmp_path / "m")) == {"bg-50"}
    bad = CliRunner().invoke(main, [*args, "--config", str(config), "--condition", "bg-7"])
    assert bad.exit_code == 2 and "condition(s) bg-7 not in" in bad.output


def test_short_training_lowers_loss_and_beats_class_prior(toy_dataset: Path, tmp_path: Path):
    """On the toy training split, weak-sep's level error ends below class-prior's."""
    from sssle_bench.estimators.run import predict
    from sssle_bench.metrics import ScoreSettings
    from sssle_bench.scoring import score_submission

    config = {
        "preset": "cpu",
        "epochs": 8,
        "classifier_epochs": 10,
        "batch_size": 4,
        "patience": 8,
    }
    est = train("weak-sep", toy_dataset, tmp_path / "ws", config)
    for history in est.state["history"].values():
        totals = [e["train"]["total"] for e in history["epochs"]]
        assert totals[-1] < totals[0]
    train("class-prior", toy_dataset, tmp_path / "cp", {})
    mae = {}
    for name, model in [("weak-sep", "ws"), ("class-prior", "cp")]:
        sub = predict(
            name,
            toy_dataset,
            tmp_path / model,
            tmp_path / f"s-{model}",
            split="train",
            echo=lambda s: None,
        )
        doc = score_submission(
            sub / "predictions.csv", toy_dataset, "train", ScoreSettings(bootstrap=0)
        )
        mae[name] = doc["overall"]["all"]["mae_present_db"]["value"]
    assert mae["weak-sep"] < mae["class-prior"], mae


def test_torch_dataset_wrapper(toy_dataset: Path):
    from sssle_bench.dataset import GeneratedDataset, torch_dataset

    ds = GeneratedDataset(toy_dataset)
    split = torch_dataset(ds, "train")
    assert len(split) == 3 * 4
    audio, labels, background = split[5]
    assert audio.shape == (64000,) and audio.dtype == torch.float32
    truth = ds.wide("train", "present")
    mix = ds.table("train").iloc[5]
    assert (
        labels.tolist() == truth.loc[(mix["mixture_id"], mix["condition"])].astype(float).tolist()
    )
    flags = [float(split[i][2]) for i in range(len(split))]
    assert flags == [float(c != "none") for c in ds.table("train")["condition"]]
    assert sum(flags) == 3 * 3  # three background conditions


def test_paper_preset_weighs_mixture_terms_100_and_classification_1():
    """The original's weights and terms (cdsd/train_separator.py: mix + 1 x cls; its
    multi-resolution configs: three mel-40 terms, each weight 100, averaged)."""
    c = make_config({"preset": "paper"})
    assert c.energy_resolutions == (("mel", "tf"), ("mel", "spectrum"), ("mel", "clip"))
    assert c.weight_consistency == 100.0
    assert (c.weight_critic, c.weight_background) == (1.0, 1.0)


def test_resolution_entries_and_the_removed_mixture_weight():
    c = make_config({"energy_resolutions": [["linear", "tf", 4], ["mel", "clip", 1.0]]})
    assert c.energy_resolutions == (("linear", "tf", 4.0), ("mel", "clip"))
    assert c.resolutions() == [("linear", "tf", 4.0), ("mel", "clip", 1.0)]
    with pytest.raises(SssleError, match="weight_mixture was removed"):
        make_config({"weight_mixture": 10.0})
    with pytest.raises(SssleError, match="listed twice"):
        make_config({"energy_resolutions": [["mel", "tf"], ["mel", "tf", 2.0]]})
    for bad in (["mel"], ["mel", "tf", 0.0], ["mel", "tf", "x"], ["mel", "tf", 1, 2]):
        with pytest.raises(SssleError, match="energy.resolution"):
            make_config({"energy_resolutions": [bad]})


def test_the_spectrum_aggregation_on_a_hand_made_clip():
    """The original's ``spectrum`` target: per band, the mean over (non-silent) frames.
    One clip, 2 bins x 2 frames of magnitude 1, class 0 present with mask 0.5 in frame 0
    and 1 in frame 1: the per-bin means of the residual are 0.25, 0.25; class 1 absent
    with mask 0.25: absent means 0.25, 0.25. L1 over 2 bins / 2 bins = 0.25 + 0.25."""
    x = torch.ones(1, 2, 2)
    masks = torch.stack([torch.tensor([[0.5, 1.0], [0.5, 1.0]]), torch.full((2, 2), 0.25)])[None]
    labels = torch.tensor([[1.0, 0.0]])
    frames = torch.ones(1, 2)
    loss = losses.consistency_loss(x, masks, labels, frames, None, "spectrum")
    assert float(loss) == pytest.approx(0.5)
    # "frame" (ours) aggregates over bins per frame instead: residual 0.5 then 0 per frame
    # -> L1 0.5 over 2 frames; absent 0.25 per frame -> 0.5 / 2; together 0.5
    assert float(losses.consistency_loss(x, masks, labels, frames, None, "frame")) == pytest.approx(
        0.5
    )
    # They differ once the residual changes sign across bins within a frame: with mask 1.5
    # in bin 0 of frame 0 the residuals there are -0.5 (bin 0) and +0.5 (bin 1). Per bin
    # they stay apart (-0.25, +0.25: error 0.5, plus absent 0.5, over 2 bins = 0.5); per
    # frame they cancel (0, 0: error 0, plus absent 0.5, over 2 frames = 0.25).
    masks[0, 0, 0, 0] = 1.5
    spectrum = float(losses.consistency_loss(x, masks, labels, frames, None, "spectrum"))
    frame = float(losses.consistency_loss(x, masks, labels, frames, None, "frame"))
    assert (spectrum, frame) == (pytest.approx(0.5), pytest.approx(0.25))


def test_auc_on_hand_made_scores():
    assert roc_auc(np.array([True, False]), np.array([0.9, 0.1])) == 1.0
    assert roc_auc(np.array([True, False]), np.array([0.1, 0.9])) == 0.0
    assert roc_auc(np.array([True, True, False, False]), np.array([0.8, 0.3, 0.5, 0.1])) == 0.75


#: The bar the shared classifier must clear before it is frozen as the critic.
SILENCE_MAX = 0.1
AUC_MIN = 0.8


@pytest.fixture(scope="module")
def selective(toy_full: Path):
    """The cpu preset's shared classifier as the demo's shipped checkpoints hold it: pretrained
    on this very toy world by the recorded command (tests/test_shipped.py reproduces its
    first epoch), frozen."""
    from sssle_bench.dataset import GeneratedDataset
    from sssle_bench.estimators.weak_sep.networks import freeze
    from sssle_bench.estimators.weak_sep.objective import Model
    from sssle_bench.estimators.weak_sep.shipped import check_checkpoints, checkpoint_dir

    ds = GeneratedDataset(toy_full)
    prov = check_checkpoints(checkpoint_dir(), ds)
    saved = torch.load(checkpoint_dir() / prov["classifier_file"], weights_only=True)
    config = make_config({"preset": "cpu", "threads": 2})
    model = Model(config, len(ds.classes))
    model.classifier.load_state_dict(saved["classifier"])
    freeze(model.classifier)
    return ds, model, saved["losses"]


def test_the_shared_classifier_is_selective_before_it_is_frozen(selective):
    """On silence it says "no class"; on isolated test sources each class is recognised; on
    background alone no class, and "background present"."""
    ds, model, bce = selective
    assert bce[-1] < bce[0]
    tracks, labels = [], []
    for mix in ds.mixtures("test", conditions=("none",)):
        for label, track in ds.sources(mix).items():
            tracks.append(torch.from_numpy(track.astype(np.float32)))
            labels.append(ds.classes.index(label))
    with torch.inference_mode():
        silence = model.classify(model.spectra(torch.zeros(1, 64000))[0])[0]
        probs = torch.cat(
            [
                model.classify(model.spectra(torch.stack(tracks[i : i + 16]))[0])
                for i in range(0, len(tracks), 16)
            ]
        ).numpy()
    assert float(silence.max()) < SILENCE_MAX, silence
    labels = np.array(labels)
    aucs = [roc_auc(labels == k, probs[:, k]) for k in range(len(ds.classes))]
    assert min(aucs) > AUC_MIN, aucs
    # background alone (bg-50): no class, but background (the critic's extra output)
    tracks = background_tracks(ds, "test", ("bg-50",))
    quiet = [to_mono(read_audio(p)[0]).astype(np.float32) for p in tracks]
    with torch.inference_mode():
        heard = model.classify(model.spectra(torch.from_numpy(np.stack(quiet)))[0]).numpy()
    k = len(ds.classes)
    assert heard[:, :k].max() < SILENCE_MAX and heard[:, k].min() > 1 - SILENCE_MAX
    assert float(silence[k]) < SILENCE_MAX


def test_reference_masks_on_hand_made_magnitudes():
    sources = torch.tensor([[[3.0]], [[1.0]], [[0.0]]])
    masks = losses.reference_masks(sources, torch.tensor([[4.0]]), torch.tensor([1.0, 1.0, 0.0]))
    assert masks["oracle"].flatten().tolist() == pytest.approx([0.375, 0.125, 0.0])
    assert masks["absorb"].flatten().tolist() == pytest.approx([0.625, 0.375, 0.0])
    assert masks["equal"].flatten().tolist() == [0.5, 0.5, 0.0]
    assert masks["zero"].abs().sum() == 0


@pytest.mark.parametrize("condition", ["none", "bg-50", "bg-20"])
def test_the_objective_prefers_oracle_masks_to_equal_split_and_silence(selective, condition):
    """The paper's objective (cpu preset weights), with the selective critic: oracle masks of
    a generated dataset's saved sources cost less than an equal split or all-zero masks."""
    ds, model, _ = selective
    total = objective_at_reference_masks(model, ds, "test", condition)
    assert total["oracle"] < total["equal"] and total["oracle"] < total["zero"], total
    if condition == "none":  # nothing to absorb: the two are the same masks
        assert total["oracle"] == pytest.approx(total["absorb"], rel=1e-3)


@pytest.mark.parametrize("condition", ["bg-50", "bg-20"])
def test_the_objective_prefers_oracle_masks_to_absorbing_the_background(selective, condition):
    """With a background critic (cpu preset): sources that absorb the background cost more
    than the oracle's, which leave it to the residual (docs/weak-sep.md, objective)."""
    ds, model, _ = selective
    total = objective_at_reference_masks(model, ds, "test", condition)
    assert total["oracle"] < total["absorb"], total


def test_the_original_crnn_shape_and_its_half_on_silence():
    """The original classifier without bias says 0.5 for every class on silence whatever
    its weights (why the compact one is a deliberate deviation); with the bias the
    paper's configs pass, it has bias vectors and can say otherwise."""
    from sssle_bench.estimators.weak_sep.objective import Model

    config = make_config({"preset": "paper"})
    assert config.classifier_arch == "original" and config.classifier_bias
    biased = Model(config, 5).classifier
    assert sum(p.ndim == 1 for p in biased.parameters()) == 3 + 4 + 1  # convs, BiLSTM, fc
    model = Model(make_config({"preset": "paper", "classifier_bias": False}), 5)
    model.classifier.eval()
    with torch.no_grad():
        silence = model.classify(model.spectra(torch.zeros(2, 64000))[0])
        noise = model.classify(model.spectra(torch.randn(2, 64000) * 0.1)[0])
    assert silence.shape == (2, 5) and torch.all(silence == 0.5)
    assert noise.shape == (2, 5) and torch.all((noise > 0) & (noise < 1))
    assert not torch.all(noise == 0.5)
    assert all(p.ndim > 1 for p in model.classifier.parameters())  # no bias vectors


def test_the_original_unet_layer_by_layer():
    """``UNetSpectrogramSeparator(n_blocks=3, init_channels=64)`` of the paper's configs:
    the same convolutions (shapes in PyTorch's weight layout), ReLU throughout, a
    BatchNorm then sigmoid output block, and the input size restored exactly."""
    from torch import nn

    from sssle_bench.estimators.weak_sep.objective import Model

    config = make_config({"preset": "paper"})
    assert config.separator_arch == "original" and config.unet_levels == 4
    unet = Model(config, 5).separator
    convs = [m.weight.shape for m in unet.modules() if isinstance(m, nn.Conv2d)]
    assert convs == [(64, 1, 5, 5), (128, 64, 5, 5), (256, 128, 5, 5), (512, 256, 5, 5)]
    ups = [m.weight.shape for m in unet.modules() if isinstance(m, nn.ConvTranspose2d)]
    # the first up block has no skip; the others and the output block take [skip, x]
    assert ups == [(512, 256, 5, 5), (512, 128, 5, 5), (256, 64, 5, 5), (128, 5, 5, 5)]
    kinds = [type(m).__name__ for m in unet.modules() if not list(m.children())]
    assert "LeakyReLU" not in kinds and kinds.count("ReLU") == 7
    assert kinds[-3:] == ["ConvTranspose2d", "BatchNorm2d", "Sigmoid"]
    small = Model(make_config({"preset": "paper", "unet_channels": 4}), 5)
    small.separator.eval()
    for frames in (126, 125):
        _, feats = small.spectra(torch.randn(2, (frames - 1) * 128) * 0.1)
        assert feats.shape == (2, 1, 257, frames)
        masks = small.separator(feats)
        assert masks.shape == (2, 5, 257, frames)
        assert torch.all((masks > 0) & (masks < 1))


def test_classifier_pretraining_stops_on_validation_and_keeps_its_best_epoch(
    monkeypatch: pytest.MonkeyPatch,
):
    """The original's schedule: stop after ``patience`` epochs without a lower validation
    BCE, keep the best epoch's weights, freeze."""
    import torch

    from sssle_bench.estimators.weak_sep import critic as t
    from sssle_bench.estimators.weak_sep.config import make_config
    from sssle_bench.estimators.weak_sep.objective import Model

    model = Model(make_config({"preset": "cpu"}), 3)
    valid_bce = iter([0.5, 0.4, 0.45, 0.41, 0.6, 0.3])

    def scripted(trn, loader, extras, draws, opt=None):
        if opt is None:
            return next(valid_bce)
        with torch.no_grad():  # a visible training step: every weight + 1
            for w in trn.classifier.parameters():
                w.add_(1.0)
        return 1.0

    monkeypatch.setattr(t, "_classifier_bce", scripted)
    first = next(model.classifier.parameters()).detach().clone()
    said: list[str] = []
    losses = t.train_classifier(model, "train", 50, 1e-4, said.append, valid="v", patience=3)
    assert len(losses) == 5  # best at epoch 2, then 3 epochs without a lower BCE
    assert said[-1] == "classifier: early stopping after epoch 5 (patience 3)"
    kept = next(model.classifier.parameters())
    assert torch.allclose(kept, first + 2, atol=1e-5) and not kept.requires_grad
    assert "valid bce 0.4000" in said[1]
