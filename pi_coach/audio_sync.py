"""Aligning two recordings by their soundtracks: decode with PyAV, cross-correlate with GCC-PHAT.

Two takes danced to the same music share the music, so the lag that best lines up the soundtracks
is the lag between the dances, to a fraction of a millisecond. GCC-PHAT (cross-correlation of the
spectra with every frequency's magnitude divided out) gives one sharp peak at that lag even for
music with a strong beat or a room hum, where a plain cross-correlation has broad, repeating peaks.
How far the peak stands above the next highest one (``confidence``, their ratio) says whether
the soundtracks share anything at all: a shared recording gives one peak 10 to 100 times the
next, while unrelated music, even on the same scale and a similar beat, gives many near-equal
peaks (ratios of 1.0-1.5 in the tests). Below ``MIN_CONFIDENCE`` the caller falls back to the poses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 8000  # Hz: the soundtracks are decoded to mono at this rate (0.125 ms, far below a frame)
MIN_CONFIDENCE = 3.0  # the correlation peak over the next highest peak (20 ms or more away)
SILENCE_RMS = 1e-4  # a soundtrack quieter than this is treated as none
BAND = (40.0, 3800.0)  # Hz: the frequencies the correlation listens to (below: rumble of the stand; above: the codec's floor)


class AudioError(ValueError):
    """A soundtrack that cannot be decoded; the message names the file."""


@dataclass(frozen=True, eq=False)
class Soundtrack:
    """Mono samples at ``rate``; ``start`` is the time of the first sample in seconds, on the
    video's clock (0 = the first video frame)."""

    samples: np.ndarray
    rate: int
    start: float = 0.0

    @property
    def duration(self) -> float:
        return len(self.samples) / self.rate

    def cut(self, begin: float, end: float | None = None) -> Soundtrack:
        """The part between ``begin`` and ``end`` seconds of the video's clock, restarted at 0."""
        i = max(0, round((begin - self.start) * self.rate))
        j = len(self.samples) if end is None else max(i, round((end - self.start) * self.rate))
        return Soundtrack(self.samples[i:j], self.rate, max(0.0, self.start - begin))


@dataclass(frozen=True)
class AudioOffset:
    """The attempt's time ``t`` is the reference's time ``t + seconds``; ``confidence`` is the
    correlation peak over the next highest one (below MIN_CONFIDENCE: not the same music)."""

    seconds: float
    confidence: float

    @property
    def usable(self) -> bool:
        return self.confidence >= MIN_CONFIDENCE


def read_soundtrack(path: str | Path, rate: int = RATE) -> Soundtrack | None:
    """The first audio stream of a video file as mono float32 at ``rate``; None when the file has
    no audio stream or only silence."""
    import av  # PyAV: its wheels carry ffmpeg, so no system ffmpeg is needed on the box

    path = Path(path)
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise AudioError(f"{path}: cannot open for its soundtrack ({exc})") from None
    with container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        video = container.streams.video[0] if container.streams.video else None
        video_start = float(video.start_time * video.time_base) if video is not None and video.start_time is not None else 0.0
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks, first = [], None
        try:
            for frame in container.decode(stream):
                if first is None and frame.time is not None:
                    first = float(frame.time)
                chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
            chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
        except av.error.FFmpegError as exc:
            raise AudioError(f"{path}: the soundtrack cannot be decoded ({exc})") from None
    if not chunks:
        return None
    samples = np.concatenate(chunks).astype(np.float32)
    if not len(samples) or float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) < SILENCE_RMS:
        return None
    return Soundtrack(samples, rate, (first or 0.0) - video_start)


def find_offset(reference: Soundtrack, attempt: Soundtrack, min_overlap: float = 0.5) -> AudioOffset:
    """The lag between two soundtracks by GCC-PHAT, searched over every lag at which they share at
    least ``min_overlap`` of the shorter one."""
    if reference.rate != attempt.rate:
        raise ValueError("both soundtracks must have the same rate")
    a = reference.samples.astype(np.float64) - reference.samples.mean()
    b = attempt.samples.astype(np.float64) - attempt.samples.mean()
    n = 1 << int(np.ceil(np.log2(len(a) + len(b))))
    cross = np.fft.rfft(a, n) * np.conj(np.fft.rfft(b, n))
    freqs = np.fft.rfftfreq(n, 1 / reference.rate)
    cross[(freqs < BAND[0]) | (freqs > BAND[1])] = 0
    cross /= np.abs(cross) + 1e-12 * np.abs(cross).max()
    corr = np.fft.irfft(cross, n)  # corr[k]: reference sample i + k against attempt sample i
    need = min_overlap * min(len(a), len(b))
    lags = np.arange(-(len(b) - 1), len(a))
    overlap = np.minimum(len(a), lags + len(b)) - np.maximum(0, lags)
    lags = lags[overlap >= need]
    if not len(lags):
        return AudioOffset(0.0, 0.0)
    values = corr[lags % n]
    best = int(np.argmax(values))
    guard = round(0.02 * reference.rate)  # the peak's own shoulders are not "the rest"
    rest = np.concatenate([values[:max(0, best - guard)], values[best + guard + 1:]])
    second = float(rest.max()) if len(rest) else 0.0
    confidence = float(values[best]) / second if second > 0 else 0.0
    lag = int(lags[best])
    return AudioOffset(reference.start + lag / reference.rate - attempt.start, confidence)
