"""Audio I/O at the edge: reading with clear errors, resampling, exact encoding.

Everything that touches audio files goes through here, so every error names the
file and every written file is exactly what the levels were computed from.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf

from .errors import SssleError

#: Output formats a recipe may ask for: container -> allowed sample subtypes.
FORMATS: dict[str, tuple[str, ...]] = {
    "wav": ("PCM_16", "PCM_24", "FLOAT"),
    "flac": ("PCM_16", "PCM_24"),
}


def audio_info(path: Path) -> sf._SoundFileInfo:
    """Header of an audio file; :class:`SssleError` naming the file if it is unreadable,
    empty or truncated (it must decode to the length its header states:
    :func:`check_complete`)."""
    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError, OSError) as exc:
        raise SssleError(f"{path}: unreadable audio file ({exc})") from exc
    if info.frames == 0:
        raise SssleError(f"{path}: audio file has zero samples")
    check_complete(Path(path), info.frames)
    return info


def wav_declared_frames(head: bytes) -> int | None:
    """Frames a RIFF/WAVE header declares (its ``data`` chunk size over the ``fmt `` block
    size), from the file's first bytes; None if not a WAV or the size is not stated
    (0 or 0xFFFFFFFF, as streaming writers leave it)."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos, block = 12, None
    while pos + 8 <= len(head):
        chunk, size = head[pos : pos + 4], int.from_bytes(head[pos + 4 : pos + 8], "little")
        if chunk == b"fmt " and pos + 22 <= len(head):
            block = int.from_bytes(head[pos + 20 : pos + 22], "little")
        if chunk == b"data":
            if not block or size in (0, 0xFFFFFFFF):
                return None
            return size // block
        pos += 8 + size + (size & 1)
    return None


def check_complete(path: Path, frames: int) -> None:
    """Raise :class:`SssleError` if ``path`` does not decode to ``frames`` frames: a WAV
    whose file ends before the data its header declares (libsndfile then reports the
    shorter length), or any file whose last frame cannot be read."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    declared = wav_declared_frames(head)
    if declared is not None and declared > frames:
        raise SssleError(
            f"{path}: truncated audio file (its header declares {declared} frames, "
            f"the file holds {frames})"
        )
    try:
        with sf.SoundFile(str(path)) as f:
            f.seek(frames - 1)
            last = f.read(1)
    except (RuntimeError, sf.LibsndfileError, OSError) as exc:
        raise SssleError(
            f"{path}: truncated audio file (its header states {frames} frames; "
            f"the last cannot be read: {exc})"
        ) from exc
    if len(last) != 1:
        raise SssleError(f"{path}: truncated audio file (its header states {frames} frames)")


def read_audio(path: Path, start: int = 0, stop: int | None = None) -> tuple[np.ndarray, int]:
    """Read samples ``[start, stop)`` as float64, shape ``(n, channels)``, and the rate in Hz."""
    try:
        data, sr = sf.read(str(path), start=start, stop=stop, dtype="float64", always_2d=True)
    except (RuntimeError, sf.LibsndfileError, OSError) as exc:
        raise SssleError(f"{path}: unreadable audio file ({exc})") from exc
    if data.shape[0] == 0:
        raise SssleError(f"{path}: audio file has zero samples")
    return data, int(sr)


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Polyphase resampling along axis 0 (deterministic, no external binary)."""
    if sr_in == sr_out:
        return x
    from scipy.signal import resample_poly

    ratio = Fraction(sr_out, sr_in)
    return resample_poly(x, ratio.numerator, ratio.denominator, axis=0)


def encode(x: np.ndarray, sr: int, fmt: str, subtype: str) -> tuple[bytes, np.ndarray]:
    """Encode audio to file bytes and return them with the decoded samples.

    The decoded array is what a reader of the written file gets back, so levels
    computed from it describe the file exactly (quantisation included).

    Parameters
    ----------
    x : np.ndarray [shape=(n,) or (n, channels)]
        Float audio, full scale 1.0.
    sr : int
        Sample rate in Hz.
    fmt : str
        Container, a key of :data:`FORMATS`.
    subtype : str
        Sample format, one of ``FORMATS[fmt]``.

    Returns
    -------
    (bytes, np.ndarray [shape=(n,)] or (n, channels), float64)
    """
    buf = io.BytesIO()
    sf.write(buf, x, sr, format=fmt.upper(), subtype=subtype)
    data = buf.getvalue()
    decoded, _ = sf.read(io.BytesIO(data), dtype="float64", always_2d=x.ndim == 2)
    return data, decoded
