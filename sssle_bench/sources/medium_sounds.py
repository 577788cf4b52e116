"""Sounds of the medium synthetic world: per-recording parameters, per-slice rendering.

UrbanSound8K clips are slices of longer Freesound recordings. Here every
recording draws its sound's parameters (:func:`draw_sound`) and its *recording
colour* (:func:`draw_colour`: microphone response, room, noise floor) once; its
slices share both and differ only in the noise realisation, the slice's start in
the sound's cycle and a small parameter jitter. Parameter ranges are wide, so two
recordings of one class differ far more than two slices of one recording, while
each class keeps its structure (a horn is harmonic and steady, a bark is a train
of short pitched bursts, a gun shot an impulsive decay, a jackhammer a fast
pulse train of band noise, a siren a slow FM sweep).

All functions are pure: parameters in, ``(n,)`` float64 audio out (full scale
1.0), randomness only from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.signal import butter, fftconvolve, sosfilt

Params = dict[str, Any]


def _t(n: int, sr: int) -> np.ndarray:
    return np.arange(n) / sr


def _sos(kind: str, cutoff_hz: Any, sr: int, order: int = 2) -> np.ndarray:
    nyq = 0.5 * sr
    if kind == "bandpass":
        lo, hi = cutoff_hz
        cutoff_hz = [max(lo, 20.0), min(hi, 0.9 * nyq)]
    else:
        cutoff_hz = min(cutoff_hz, 0.9 * nyq)
    return butter(order, cutoff_hz, btype=kind, fs=sr, output="sos")


def _filter(x: np.ndarray, kind: str, cutoff_hz: Any, sr: int, order: int = 2) -> np.ndarray:
    return sosfilt(_sos(kind, cutoff_hz, sr, order), x)


def _harmonics(f0_hz: np.ndarray, sr: int, amps: np.ndarray, phase0: float) -> np.ndarray:
    """Sum of harmonics k*f0 (k = 1..len(amps)) with amplitudes ``amps``, below Nyquist."""
    phase = phase0 + 2 * np.pi * np.cumsum(f0_hz) / sr
    out = np.zeros_like(phase)
    top = float(np.max(f0_hz))
    for k, a in enumerate(amps, start=1):
        if k * top < 0.45 * sr:
            out += a * np.sin(k * phase)
    return out


def _amps(rng: np.random.Generator, n: int, tilt: tuple[float, float]) -> list[float]:
    """Harmonic amplitudes k**-tilt with a random tilt (a recording's timbre)."""
    slope = rng.uniform(*tilt)
    return [float(k**-slope * rng.uniform(0.5, 1.0)) for k in range(1, n + 1)]


# --- per-class sound parameters (one draw per recording) -------------------------------


def _car_horn(rng: np.random.Generator) -> Params:
    f0 = rng.uniform(250, 600)
    ratios = [1.0] + list(
        rng.choice([1.19, 1.26, 1.33, 1.5], size=rng.integers(0, 3), replace=False)
    )
    return {
        "f0": [f0 * r for r in ratios],
        "amps": _amps(rng, 12, (0.3, 1.2)),
        "beeps": bool(rng.random() < 0.4),
        "beep_s": rng.uniform(0.15, 0.5),
    }


def _dog_bark(rng: np.random.Generator) -> Params:
    return {
        "f0": rng.uniform(250, 900),
        "amps": _amps(rng, 14, (0.4, 1.4)),
        "burst_s": rng.uniform(0.07, 0.22),
        "period_s": rng.uniform(0.25, 0.9),
        "drop": rng.uniform(0.6, 0.95),
        "breath": rng.uniform(0.05, 0.4),
    }


def _gun_shot(rng: np.random.Generator) -> Params:
    return {
        "decay": rng.uniform(6, 40),
        "band": (rng.uniform(80, 400), rng.uniform(2000, 7000)),
        "shots": int(rng.integers(1, 4)),
        "gap_s": rng.uniform(0.15, 0.7),
        "echo": rng.uniform(0.0, 0.5),
    }


def _jackhammer(rng: np.random.Generator) -> Params:
    lo = rng.uniform(200, 1200)
    return {
        "rate_hz": rng.uniform(10, 30),
        "sharp": rng.uniform(5, 20),
        "band": (lo, lo * rng.uniform(2.5, 8)),
        "thump": rng.uniform(0.0, 0.6),
        "duty": rng.uniform(0.6, 1.0),
    }


def _siren(rng: np.random.Generator) -> Params:
    wail = rng.random() < 0.6
    return {
        "center": rng.uniform(600, 1300),
        "depth": rng.uniform(150, 600),
        "rate_hz": rng.uniform(0.15, 0.6) if wail else rng.uniform(2.0, 6.0),
        "square": not wail,
        "amps": _amps(rng, 5, (0.6, 1.8)),
    }


def _air_conditioner(rng: np.random.Generator) -> Params:
    return {
        "cutoff": rng.uniform(250, 1200),
        "hum": rng.uniform(45, 130),
        "hum_amp": rng.uniform(0.1, 0.6),
    }


def _children_playing(rng: np.random.Generator) -> Params:
    return {
        "f0": rng.uniform(220, 450),
        "vibrato": rng.uniform(2, 6),
        "amps": _amps(rng, 8, (0.5, 1.5)),
        "syllable_hz": rng.uniform(2, 5),
    }


def _drilling(rng: np.random.Generator) -> Params:
    return {
        "f0": rng.uniform(500, 2200),
        "amps": _amps(rng, 5, (0.3, 1.0)),
        "wobble_hz": rng.uniform(8, 40),
    }


def _engine_idling(rng: np.random.Generator) -> Params:
    return {
        "fire_hz": rng.uniform(18, 50),
        "cutoff": rng.uniform(250, 700),
        "rough": rng.uniform(0.05, 0.4),
    }


def _street_music(rng: np.random.Generator) -> Params:
    return {
        "root": 110.0 * 2 ** rng.uniform(0, 2),
        "notes": rng.integers(0, 12, size=8).tolist(),
        "note_s": rng.uniform(0.12, 0.4),
        "amps": _amps(rng, 6, (0.5, 1.5)),
    }


# --- rendering one slice from a recording's parameters ---------------------------------


def _render_car_horn(p: Params, rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    out = np.zeros(n)
    for f in p["f0"]:
        f0 = np.full(n, f * rng.uniform(0.99, 1.01))
        out += _harmonics(f0, sr, np.array(p["amps"]), rng.uniform(0, 2 * np.pi))
    if p["beeps"]:
        on = ((_t(n, sr) / p["beep_s"] + rng.uniform(0, 1)) % 2.0) < 1.2
        out *= _filter(on.astype(float), "lowpass", 80.0, sr)
    return out


def _render_dog_bark(p: Params, rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    out = np.zeros(n)
    burst = max(1, int(p["burst_s"] * sr))
    start = int(rng.uniform(0.0, 0.15) * sr)
    while start < n:
        m = min(burst, n - start)
        seg = _t(m, sr)
        f0 = p["f0"] * rng.uniform(0.9, 1.1) * (1 - (1 - p["drop"]) * seg / p["burst_s"])
        env = np.sin(np.pi * np.minimum(seg / p["burst_s"], 1.0)) ** 0.5 * np.exp(-seg * 8)
        voiced = _harmonics(f0, sr, np.array(p["amps"]), rng.uniform(0, 2 * np.pi))
        noise = p["breath"] * _filter(rng.standard_normal(m), "bandpass", (300, 4000), sr)
        out[start : start + m] += env * (voiced + noise)
        start += int(p["period_s"] * rng.uniform(0.7, 1.4) * sr)
    return out


def _render_gun_shot(p: Params, rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    out = np.zeros(n)
    start = int(rng.uniform(0.0, 0.1) * sr)
    for _ in range(p["shots"]):
        if start >= n:
            break
        seg = _t(n - start, sr)
        crack = _filter(rng.standard_normal(n - start), "bandpass", p["band"], sr)
        out[start:] += crack * np.exp(-seg * p["decay"] * rng.uniform(0.9, 1.1))
        echo = start + int(rng.uniform(0.05, 0.2) * sr)
        if echo < n and p["echo"] > 0:
            out[echo:] += p["echo"] * out[start : start + n - echo]
        start += int(p["gap_s"] * rng.uniform(0.7, 1.3) * sr)
    return out


def _render_jackhammer(p: Params, rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    t = _t(n, sr)
    rate = p["rate_hz"] * rng.uniform(0.97, 1.03)
    pulses = np.exp(-((t * rate + rng.uniform(0, 1)) % 1.0) * p["sharp"])
    body = _filter(rng.standard_normal(n), "bandpass", p["band"], sr)
    thump = p["thump"] * _filter(rng.standard_normal(n), "lowpass", 150.0, sr)
    gate = _filter(
        (rng.random(max(1, n // sr + 1)) < p["duty"]).repeat(sr)[:n].astype(float),
        "lowpass",
        5.0,
        sr,
    )
    return pulses * (body + thump) * np.clip(gate, 0.05, 1.0)


def _render_siren(p: Params, rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    t = _t(n, sr)
    phase = 2 * np.pi * p["rate_hz"] * t + rng.uniform(0, 2 * np.pi)
    sweep = np.sign(np.sin(phase)) if p["square"] else np.sin(phase)
    if p["square"]:
        sweep = _filter(sweep, "lowpass", 30.0, sr)
    f0 = p["center"] * rng.uniform(0.98, 1.02) + p["depth"] * sweep
    return _harmonics(f0, sr, np.array(p["amps"]), rng.uniform(0, 2 * np.pi))


def _render_air_conditioner(p: Params, rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    hum = p["hum_amp"] * np.sin(2 * np.pi * p["hum"] * _t(n, sr) + rng.uniform(0, 6.3))
    return _filter(rng.standard_normal(n), "lowpass", p["cutoff"], sr) + hum


def _render_children_playing(p: Params, rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    t = _t(n, sr)
    f0 = p["f0"] * rng.uniform(0.9, 1.1) * (1 + 0.25 * np.sin(2 * np.pi * p["vibrato"] * t))
    env = np.sin(np.pi * p["syllable_hz"] * t + rng.uniform(0, 3.1)) ** 2
    return env * _harmonics(f0, sr, np.array(p["amps"]), rng.uniform(0, 6.3))


def _render_drilling(p: Params, rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    t = _t(n, sr)
    f0 = np.full(n, p["f0"] * rng.uniform(0.97, 1.03))
    buzz = _harmonics(f0, sr, np.array(p["amps"]), rng.uniform(0, 6.3))
    return buzz * (0.7 + 0.3 * np.sin(2 * np.pi * p["wobble_hz"] * t))


def _render_engine_idling(p: Params, rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    firing = np.maximum(np.sin(2 * np.pi * p["fire_hz"] * _t(n, sr) + rng.uniform(0, 6.3)), 0) ** 4
    return _filter(firing + p["rough"] * rng.standard_normal(n), "lowpass", p["cutoff"], sr)


def _render_street_music(p: Params, rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    note_len = max(1, int(p["note_s"] * sr))
    idx = (np.arange(n) // note_len + int(rng.integers(0, 8))) % len(p["notes"])
    f0 = p["root"] * 2 ** (np.asarray(p["notes"])[idx] / 12)
    env = 0.6 + 0.4 * np.exp(-((np.arange(n) % note_len) / sr) * 8)
    return env * _harmonics(f0, sr, np.array(p["amps"]), rng.uniform(0, 6.3))


#: class -> (draw a recording's parameters, render one slice from them)
SOUNDS: dict[str, tuple[Callable[..., Params], Callable[..., np.ndarray]]] = {
    "air_conditioner": (_air_conditioner, _render_air_conditioner),
    "car_horn": (_car_horn, _render_car_horn),
    "children_playing": (_children_playing, _render_children_playing),
    "dog_bark": (_dog_bark, _render_dog_bark),
    "drilling": (_drilling, _render_drilling),
    "engine_idling": (_engine_idling, _render_engine_idling),
    "gun_shot": (_gun_shot, _render_gun_shot),
    "jackhammer": (_jackhammer, _render_jackhammer),
    "siren": (_siren, _render_siren),
    "street_music": (_street_music, _render_street_music),
}


def draw_sound(label: str, rng: np.random.Generator) -> Params:
    """A recording's sound parameters for class ``label`` (one draw per recording)."""
    return SOUNDS[label][0](rng)


def draw_colour(rng: np.random.Generator) -> Params:
    """A recording's colour: microphone band and resonance, room, noise floor.

    ``hp_hz``/``lp_hz``: microphone band edges (Hz); ``peak_hz``/``peak_gain``: a
    resonance; ``rt60_s``/``wet``: room decay (s) and reverberant share;
    ``snr_db``: clip-to-noise-floor ratio (dB); ``noise_lp_hz``: the floor's colour.
    """
    return {
        "hp_hz": float(rng.uniform(40, 350)),
        "lp_hz": float(rng.uniform(2500, 8000)),
        "peak_hz": float(np.exp(rng.uniform(np.log(300), np.log(5000)))),
        "peak_gain": float(rng.uniform(-0.6, 1.5)),
        "rt60_s": float(np.exp(rng.uniform(np.log(0.05), np.log(0.9)))),
        "wet": float(rng.uniform(0.05, 0.6)),
        "snr_db": float(rng.uniform(12, 45)),
        "noise_lp_hz": float(rng.uniform(500, 6000)),
        "ir_seed": int(rng.integers(2**31)),
    }


def apply_colour(x: np.ndarray, colour: Params, rng: np.random.Generator, sr: int) -> np.ndarray:
    """``x`` through a recording's microphone and room, plus its noise floor."""
    y = _filter(x, "highpass", colour["hp_hz"], sr)
    y = _filter(y, "lowpass", colour["lp_hz"], sr)
    band = (colour["peak_hz"] / 1.3, colour["peak_hz"] * 1.3)
    y = y + colour["peak_gain"] * _filter(y, "bandpass", band, sr)
    # One room per recording: the impulse response comes from the recording's own seed.
    ir_rng = np.random.default_rng(colour["ir_seed"])
    m = max(2, int(colour["rt60_s"] * sr))
    ir = ir_rng.standard_normal(m) * np.exp(-6.9 * _t(m, sr) / colour["rt60_s"])
    ir *= colour["wet"] / max(np.sqrt(np.sum(ir**2)), 1e-12)
    ir[0] += 1.0
    y = fftconvolve(y, ir)[: y.size]
    rms = np.sqrt(np.mean(y**2)) + 1e-12
    floor = _filter(rng.standard_normal(y.size), "lowpass", colour["noise_lp_hz"], sr)
    floor *= rms * 10 ** (-colour["snr_db"] / 20) / (np.sqrt(np.mean(floor**2)) + 1e-12)
    return y + floor


def render_slice(
    label: str, sound: Params, colour: Params, rng: np.random.Generator, n: int, sr: int
) -> np.ndarray:
    """One slice of a recording: ``(n,)`` float, faded in and out, peak 1."""
    x = apply_colour(SOUNDS[label][1](sound, rng, n, sr), colour, rng, sr)
    fade = min(n // 4, int(0.005 * sr))
    if fade > 0:
        ramp = np.linspace(0.0, 1.0, fade)
        x[:fade] *= ramp
        x[-fade:] *= ramp[::-1]
    return x / max(float(np.max(np.abs(x))), 1e-12)
