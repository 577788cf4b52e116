"""weak-sep's critic (critic.py): the background output's loss terms on hand-made values,
the extra clips of classifier pretraining, the background tracks they come from, the
shared classifier's selectivity, pretraining's early stopping and resume."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch  # the [model] extra; `make test` installs it (CPU build)

from sssle_bench.audio import encode, read_audio
from sssle_bench.dataset import GeneratedDataset, background_tracks, has_background
from sssle_bench.errors import SssleError
from sssle_bench.estimators.weak_sep import losses
from sssle_bench.estimators.weak_sep.config import make_config
from sssle_bench.estimators.weak_sep.critic import Extras, extra_clips, pretraining_extras
from sssle_bench.estimators.weak_sep.objective import Model
from sssle_bench.levels import to_mono
from sssle_bench.metrics import roc_auc

LN2 = math.log(2)


#: The bar the shared classifier must clear before it is frozen as the critic.
SILENCE_MAX = 0.1
AUC_MIN = 0.8


def test_a_separated_source_holding_background_costs_the_critic():
    """K = 2 classes and a background output: source 0 (present) should say class 0 only,
    source 1 (absent) nothing; the background output's target is 0 for both."""
    labels = torch.tensor([[1.0, 0.0]])
    clean = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]])
    assert float(losses.critic_loss(clean, labels)) == pytest.approx(0.0, abs=1e-6)
    # source 0 holds background at 0.5: -ln(0.5) over its 3 outputs, for one source
    with_background = torch.tensor([[[1.0, 0.0, 0.5], [0.0, 0.0, 0.0]]])
    assert float(losses.critic_loss(with_background, labels)) == pytest.approx(LN2 / 3, abs=1e-6)


def test_the_residual_should_hold_the_background_where_the_condition_has_one():
    empty = torch.tensor([[0.0, 0.0, 0.0]])
    heard = torch.tensor([[0.0, 0.0, 0.5]])
    # no background condition: an empty residual is right
    assert float(losses.background_loss(empty, torch.tensor([0.0]))) == pytest.approx(0.0, abs=1e-6)
    # with a background: the empty residual costs -ln(1e-8) / 3 (probabilities clamped)
    cost = float(losses.background_loss(empty, torch.tensor([1.0])))
    assert cost == pytest.approx(-math.log(1e-8) / 3, rel=1e-4)
    assert float(losses.background_loss(heard, torch.tensor([1.0]))) == pytest.approx(LN2 / 3)
    # without a flag, as the paper: all outputs should be 0
    assert float(losses.background_loss(heard)) == pytest.approx(LN2 / 3)


def test_classifier_targets_gain_a_background_column():
    labels, flags = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0.0, 1.0])
    assert losses.classifier_targets(labels, flags, False).tolist() == labels.tolist()
    assert losses.classifier_targets(labels, flags, True).tolist() == [[1, 0, 0], [0, 1, 1]]


def test_extra_clips_silence_then_background(tmp_path: Path):
    """Batch of 4: one silent clip (<= 1e-3 of the first mixture), two background clips read
    from the pool; every extra labelled no class, background flagged on the pool's only."""
    pool = []
    for i, level in enumerate((0.1, 0.2)):
        path = tmp_path / f"b{i}.wav"
        path.write_bytes(encode(np.full(800, level), 16000, "wav", "PCM_16")[0])
        pool.append(path)
    audio = torch.ones(4, 800)
    labels = torch.ones(4, 3)
    flags = torch.tensor([0.0, 1.0, 1.0, 1.0])
    extras = Extras(silence=0.25, background=0.5, pool=tuple(pool))
    out_audio, out_labels, out_flags, gains = extra_clips(
        audio, labels, flags, extras, torch.Generator().manual_seed(0)
    )
    assert out_audio.shape == (7, 800) and out_labels[4:].abs().sum() == 0
    assert out_flags.tolist() == [0, 1, 1, 1, 0, 1, 1]
    assert 0 <= float(out_audio[4].max()) <= 1e-3
    # a silent clip's gain is its scale factor (its mixture's scale is the reference)
    assert float(gains[4]) == pytest.approx(float(out_audio[4].max()), rel=1e-5)
    assert gains[:4].tolist() == [1, 1, 1, 1] and gains[5:].tolist() == [1, 1]
    for clip in out_audio[5:]:
        assert float(clip.mean()) == pytest.approx(0.1, abs=1e-4) or float(
            clip.mean()
        ) == pytest.approx(0.2, abs=1e-4)
    # nothing to add: the batch comes back as it was
    same = extra_clips(audio, labels, flags, Extras(), torch.Generator())
    assert all(torch.equal(a, b) for a, b in zip(same, (audio, labels, flags), strict=False))


def test_background_tracks_are_the_saved_background_of_background_conditions(toy_dataset: Path):
    ds = GeneratedDataset(toy_dataset)
    tracks = background_tracks(ds, "train")
    assert len(tracks) == 3 * 3 and tracks == sorted(tracks)
    assert all(p.is_file() and p.name == "background.wav" for p in tracks)
    assert "/none/" not in "".join(map(str, tracks))
    assert background_tracks(ds, "train", ("none",)) == []
    assert has_background("bg-20") and not has_background("none")


def test_background_clips_need_saved_sources(synthetic_home: Path, tmp_path: Path):
    from ..conftest import generate

    ds = GeneratedDataset(generate(tmp_path / "ds", synthetic_home, limit=1))
    config = make_config({"preset": "cpu", "classifier_background": 0.25})
    with pytest.raises(SssleError, match="--save-sources"):
        pretraining_extras(config, ds, "train")
    plain = make_config({"preset": "cpu", "classifier_background": 0.0})
    assert pretraining_extras(plain, ds, "train").pool == ()


def test_the_background_critic_adds_one_classifier_output():
    plain = Model(make_config({"preset": "cpu", "background_critic": False}), 5)
    aware = Model(make_config({"preset": "cpu", "background_critic": True}), 5)
    mag = torch.rand(2, 257, 126)
    assert plain.classify(mag).shape == (2, 5) and aware.classify(mag).shape == (2, 6)


def test_classifier_max_mixtures_sets_the_pretraining_set(
    toy_dataset: Path, monkeypatch: pytest.MonkeyPatch
):
    """3 training mixtures per condition, 4 conditions: the classifier reads
    ``classifier_max_mixtures`` per condition, else ``max_train_mixtures``, else all; the
    shared classifier's cache key follows it, not the separator's settings."""
    from sssle_bench.estimators.weak_sep import critic

    ds = GeneratedDataset(toy_dataset)
    read: list[int] = []
    monkeypatch.setattr(
        critic, "train_classifier", lambda t, loader, *a: read.append(len(loader.dataset))
    )
    cases = [({}, None, 12), ({"max_train_mixtures": 1}, None, 4)]
    cases += [({"max_train_mixtures": 1, "classifier_max_mixtures": 2}, None, 8)]
    cases += [({"max_train_mixtures": 1, "classifier_max_mixtures": 2}, "bg-20", 2)]
    for settings, condition, expected in cases:
        config = make_config({"preset": "cpu", **settings})
        critic.pretrain(
            Model(config, len(ds.classes)),
            ds,
            "train",
            config,
            torch.Generator(),
            print,
            condition,
        )
        assert read[-1] == expected, (settings, condition)
    base = make_config({"preset": "cpu", "max_train_mixtures": 1})
    key = critic.classifier_key(base, ds, "train")
    assert (
        critic.classifier_key(
            make_config({"preset": "cpu", "max_train_mixtures": 1, "epochs": 3}), ds, "train"
        )
        == key
    )
    other = make_config({"preset": "cpu", "max_train_mixtures": 1, "classifier_max_mixtures": 2})
    assert critic.classifier_key(other, ds, "train") != key
    # with its own set, the critic does not depend on the separators' set size
    for separators in (None, 3):
        same = make_config(
            {"preset": "cpu", "max_train_mixtures": separators, "classifier_max_mixtures": 2}
        )
        assert critic.classifier_key(same, ds, "train") == critic.classifier_key(other, ds, "train")
    # without its own set, the critic is pretrained on the separators' set: the key follows it
    assert critic.classifier_key(base, ds, "train") != critic.classifier_key(
        make_config({"preset": "cpu", "max_train_mixtures": 3}), ds, "train"
    )
    with pytest.raises(SssleError, match="classifier_max_mixtures"):
        make_config({"classifier_max_mixtures": 0})


def test_classifier_pretraining_stopped_after_an_epoch_resumes_to_the_same_weights(
    toy_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Every pretraining epoch is checkpointed (weights, optimiser, best epoch, random
    states); stopped after epoch 2 of 4, the same call continues from there to the
    weights and BCE history of an uninterrupted run, and is then cached."""
    from sssle_bench.estimators.weak_sep import critic

    ds = GeneratedDataset(toy_dataset)
    config = make_config(
        {"preset": "cpu", "classifier_epochs": 4, "classifier_patience": 3, "unet_channels": 4}
    )
    whole, whole_losses = critic.pretrain_shared_classifier(
        config, ds, "train", tmp_path / "whole", lambda s: None
    )
    real = critic.save_classifier_checkpoint

    def stop_after_epoch_2(path, model, opt, draws, generator, state):
        real(path, model, opt, draws, generator, state)
        if len(state.losses) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(critic, "save_classifier_checkpoint", stop_after_epoch_2)
    folder = tmp_path / "stopped"
    with pytest.raises(KeyboardInterrupt):
        critic.pretrain_shared_classifier(config, ds, "train", folder, lambda s: None)
    assert not list(folder.glob("classifier-*.pt"))  # not cached: unfinished
    said: list[str] = []
    resumed, losses = critic.pretrain_shared_classifier(config, ds, "train", folder, said.append)
    assert any("resuming from" in line and "after epoch 2" in line for line in said)
    assert [line.split(":")[0] for line in said if "epoch" in line and "bce" in line] == [
        "classifier epoch 3/4",
        "classifier epoch 4/4",
    ]
    assert losses == whole_losses and len(losses) == 4
    assert all(torch.equal(resumed[k], whole[k]) for k in whole)
    assert len(list(folder.glob("classifier-*.pt"))) == 1


def test_auc_on_hand_made_scores():
    assert roc_auc(np.array([True, False]), np.array([0.9, 0.1])) == 1.0
    assert roc_auc(np.array([True, False]), np.array([0.1, 0.9])) == 0.0
    assert roc_auc(np.array([True, True, False, False]), np.array([0.8, 0.3, 0.5, 0.1])) == 0.75


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
