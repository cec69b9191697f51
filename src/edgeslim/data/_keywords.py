"""Synthetic keyword spotting: words said by ``espeak-ng``, resampled by ``sox``, log-mel in numpy.

Every clip is one word said by a random English voice and voice variant at a random speed, pitch
and gain, placed at a random offset in a one-second 16 kHz window with Gaussian background noise
added. The extra classes are ``_unknown_`` (other words) and ``_silence_`` (noise only). All
choices come from ``numpy.random.default_rng(seed)``, and ``espeak-ng`` and ``sox`` (with
dithering off) are deterministic, so the same seed and parameters give the same features.

Features are log-mel energies with shape ``(n_mels, frames)`` (the series layout: mel bands are
channels, frames are steps), so every series model of the zoo trains on them. Generated features
are cached as ``.npz`` under ``$EDGESLIM_CACHE`` (default ``~/.cache/edgeslim``) in ``keywords/``;
no audio is ever written to disk.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from edgeslim._core.errors import DataError
from edgeslim._core.io import atomic_write
from edgeslim.data._assemble import RawData
from edgeslim.data._synthetic import float_param, int_param
from edgeslim.data.spec import Layout, Task

NAME = "keywords"
SAMPLE_RATE = 16_000
CLIP_SAMPLES = SAMPLE_RATE  # one second
FORMAT_VERSION = 2  # bump when the generation changes, so old caches are not reused
DEFAULT_WORDS = "yes,no,up,down,left,right,on,off,stop,go"
UNKNOWN_LABEL = "_unknown_"
SILENCE_LABEL = "_silence_"
# words said for the unknown class (never one of the keywords)
_UNKNOWN_WORDS = (
    "cat", "dog", "bird", "tree", "house", "happy", "seven", "zero", "wow", "bed",
    "learn", "follow", "forward", "visual", "sheila", "marvin", "one", "two", "three", "four",
)  # fmt: skip
# English espeak-ng voices of the Debian package (no mbrola voices) and voice variants
_VOICES = (
    "en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
    "en-029", "en-us-nyc",
)  # fmt: skip
_VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "croak", "whisper", "Andy", "Annie", "Denis", "Gene", "Jacky",
    "Michael", "Mike", "Mr", "max", "paul", "rob", "steph", "travis", "zac", "linda",
)  # fmt: skip
_SPEED = (110, 210)  # words per minute
_PITCH = (20, 80)  # espeak-ng pitch 0..99
_N_FFT = 512


def cache_dir() -> Path:
    """Where generated datasets are cached: ``$EDGESLIM_CACHE/keywords`` or ``~/.cache/...``."""
    root = os.environ.get("EDGESLIM_CACHE", "") or str(Path.home() / ".cache" / "edgeslim")
    return Path(root).expanduser() / "keywords"


def _tools() -> tuple[str, str]:
    found = {t: shutil.which(t) for t in ("espeak-ng", "sox")}
    missing = [t for t, p in found.items() if p is None]
    if missing:
        raise DataError(
            f"dataset {NAME!r} needs the program(s) {', '.join(missing)} to speak and resample "
            "the words; install them with: apt-get install -y espeak-ng sox"
        )
    return str(found["espeak-ng"]), str(found["sox"])


@functools.cache
def _tool_versions() -> str:
    espeak, sox = _tools()
    out = []
    for exe in (espeak, sox):
        res = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
        out.append(
            (res.stdout or res.stderr).strip().splitlines()[0] if res.returncode == 0 else ""
        )
    return " | ".join(out)


def speak(word: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """One word said by ``espeak-ng``, resampled by ``sox`` to 16 kHz mono float32 in [-1, 1]."""
    espeak, sox = _tools()
    tts = subprocess.run(
        [espeak, "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", word],
        capture_output=True,
        check=False,
    )
    if tts.returncode != 0 or not tts.stdout:
        err = tts.stderr.decode(errors="replace").strip()
        raise DataError(f"dataset {NAME!r}: espeak-ng failed for voice {voice!r}: {err}")
    raw = subprocess.run(
        [sox, "-q", "-R", "-D", "-t", "wav", "-", "-t", "raw", "-r", str(SAMPLE_RATE), "-b", "16",
         "-e", "signed-integer", "-c", "1", "-"],
        input=tts.stdout,
        capture_output=True,
        check=False,
    )  # fmt: skip
    if raw.returncode != 0:
        err = raw.stderr.decode(errors="replace").strip()
        raise DataError(f"dataset {NAME!r}: sox failed to resample to 16 kHz: {err}")
    return np.frombuffer(raw.stdout, dtype="<i2").astype(np.float32) / 32768.0


def mel_filterbank(n_mels: int, n_fft: int = _N_FFT, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Triangular HTK-mel filters, shape ``(n_mels, n_fft // 2 + 1)``, 20 Hz to ``sr / 2``."""

    def to_mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def to_hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    edges = to_hz(np.linspace(to_mel(np.array(20.0)), to_mel(np.array(sr / 2)), n_mels + 2))
    bins = np.linspace(0.0, sr / 2, n_fft // 2 + 1)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (bins[None, :] - lo) / (mid - lo)
    down = (hi - bins[None, :]) / (hi - mid)
    return np.maximum(0.0, np.minimum(up, down)).astype(np.float32)


def log_mel(audio: np.ndarray, n_mels: int, frames: int) -> np.ndarray:
    """Log-mel energies of clips ``(n, samples)`` -> ``(n, n_mels, frames)`` float32.

    Frames are ``_N_FFT`` samples with a Hann window, hopped evenly so ``frames`` cover the clip.
    """
    length = audio.shape[1]
    hop = length // frames
    padded = np.pad(audio, ((0, 0), (0, max(0, hop * (frames - 1) + _N_FFT - length))))
    idx = np.arange(frames)[:, None] * hop + np.arange(_N_FFT)[None, :]
    window = np.hanning(_N_FFT).astype(np.float32)
    spec = np.abs(np.fft.rfft(padded[:, idx] * window, axis=-1)) ** 2  # (n, frames, bins)
    mel = spec.astype(np.float32) @ mel_filterbank(n_mels).T  # (n, frames, n_mels)
    return np.log(mel + 1e-6).transpose(0, 2, 1).astype(np.float32)


def _place(speech: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Trim silence, crop to one second and place the word at a random offset."""
    loud = np.flatnonzero(np.abs(speech) > 0.01)
    if loud.size:
        speech = speech[loud[0] : loud[-1] + 1]
    speech = speech[:CLIP_SAMPLES]
    clip = np.zeros(CLIP_SAMPLES, dtype=np.float32)
    start = int(rng.integers(0, CLIP_SAMPLES - speech.size + 1))
    clip[start : start + speech.size] = speech
    return clip


def _parse_words(words: object) -> list[str]:
    items = words.split(",") if isinstance(words, str) else words
    if not isinstance(items, Sequence):
        raise DataError(f"parameter words of dataset {NAME!r} must be comma-separated words")
    out = [str(w).strip().lower() for w in items if str(w).strip()]
    bad = [w for w in out if not w.replace("-", "").isalpha()]
    if len(out) < 2 or bad or len(set(out)) != len(out):
        raise DataError(
            f"parameter words of dataset {NAME!r} must be at least 2 distinct words of letters; "
            f"got {words!r}"
        )
    return out


def generate(
    seed: int,
    words: list[str],
    n_per_class: int,
    n_mels: int,
    frames: int,
    noise: float,
    unknown: bool,
    silence: bool,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Features ``(n, n_mels, frames)`` and string labels, not cached. See the module doc."""
    labels = [*words, *([UNKNOWN_LABEL] if unknown else []), *([SILENCE_LABEL] if silence else [])]
    rng = np.random.default_rng(seed)
    y = np.repeat(np.array(labels), n_per_class)
    rng.shuffle(y)
    n = y.size
    others = [w for w in _UNKNOWN_WORDS if w not in words]
    # every random choice is drawn up front, so threads cannot change the result
    said = np.array([rng.choice(others) if lab == UNKNOWN_LABEL else lab for lab in y])
    voices = rng.choice(_VOICES, size=n)
    variants = rng.choice(_VARIANTS, size=n)
    speeds = rng.integers(_SPEED[0], _SPEED[1] + 1, size=n)
    pitches = rng.integers(_PITCH[0], _PITCH[1] + 1, size=n)
    gains = rng.uniform(0.3, 1.0, size=n).astype(np.float32)
    place_seeds = rng.integers(0, 2**31, size=n)
    noise_std = (noise * rng.uniform(0.2, 1.0, size=(n, 1))).astype(np.float32)
    audio = np.zeros((n, CLIP_SAMPLES), dtype=np.float32)
    todo = [i for i in range(n) if y[i] != SILENCE_LABEL]
    done = 0

    def one(i: int) -> int:
        v = f"{voices[i]}+{variants[i]}"
        speech = speak(str(said[i]), v, int(speeds[i]), int(pitches[i]))
        peak = float(np.abs(speech).max()) or 1.0
        clip = _place(speech / peak, np.random.default_rng(int(place_seeds[i])))
        audio[i] = gains[i] * clip
        return i

    workers = min(8, max(1, (os.cpu_count() or 1) * 2))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(one, todo):
            done += 1
            if progress is not None:
                progress(done, len(todo))
    audio += noise_std * rng.standard_normal(audio.shape, dtype=np.float32)
    return log_mel(audio, n_mels, frames), y


def _cache_key(params: dict[str, object]) -> str:
    blob = json.dumps({**params, "v": FORMAT_VERSION, "tools": _tool_versions()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def prepare(
    seed: int = 0,
    *,
    words: str | Sequence[str] = DEFAULT_WORDS,
    n_per_class: int = 160,
    n_mels: int = 16,
    frames: int = 40,
    noise: float = 0.05,
    unknown: bool = True,
    silence: bool = True,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Generate the dataset (unless cached and not ``force``) and return its cache file."""
    wl = _parse_words(words)
    params: dict[str, object] = {
        "seed": seed,
        "words": wl,
        "n_per_class": int_param(n_per_class, "n_per_class", NAME, 2),
        "n_mels": int_param(n_mels, "n_mels", NAME, 2, _N_FFT // 4),
        "frames": int_param(frames, "frames", NAME, 2, CLIP_SAMPLES // 32),
        "noise": float_param(noise, "noise", NAME),
        "unknown": bool(unknown),
        "silence": bool(silence),
    }
    _tools()
    path = cache_dir() / f"keywords-{_cache_key(params)}.npz"
    if path.exists() and not force:
        return path
    x, y = generate(
        seed,
        wl,
        int(n_per_class),
        int(n_mels),
        int(frames),
        float(noise),
        bool(unknown),
        bool(silence),
        progress=progress,
    )
    with atomic_write(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, x=x, y=y, params=json.dumps(params))
    return path


def keywords(
    seed: int,
    words: str = DEFAULT_WORDS,
    n_per_class: int = 160,
    n_mels: int = 16,
    frames: int = 40,
    noise: float = 0.05,
    unknown: bool = True,
    silence: bool = True,
) -> RawData:
    """The registry loader: cached features of :func:`prepare` as :class:`RawData`."""
    path = prepare(
        seed,
        words=words,
        n_per_class=n_per_class,
        n_mels=n_mels,
        frames=frames,
        noise=noise,
        unknown=unknown,
        silence=silence,
    )
    try:
        with np.load(path, allow_pickle=False) as d:
            x, y = d["x"], d["y"]
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(
            f"dataset {NAME!r}: cache file {path} is unreadable ({exc}); delete it or run "
            "edgeslim data prepare keywords --force"
        ) from None
    return RawData(
        x=x,
        y=y.astype(str),
        task=Task.CLASSIFICATION,
        layout=Layout.SERIES,
        source=f"espeak-ng + sox synthetic speech, log-mel {x.shape[1]}x{x.shape[2]} ({path})",
    )
