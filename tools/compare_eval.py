"""The reference-dancer comparison measured on the real dance video: ``python -m tools.compare_eval``.

Prints the figures the README quotes: the video against itself; against a copy cut by a second
(frames and soundtrack together, re-encoded), aligned by its real soundtrack, by a music track
mixed onto it, and by the poses alone; against copies with one joint's landmarks moved; and the
annotated steps against each other, left with left and right with right (``--steps``: only those). The helpers make those copies and are used by the
tests too.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
VIDEO = REPO.parent / "shared" / "data" / "dance-video" / "example_video.webm"
LEFT_STEPS = {"failed 51-96": (51, 97), "successful 128-159": (128, 160), "successful 194-237": (194, 238)}
RIGHT_STEPS = {"successful 7-49": (7, 50), "successful 98-127": (98, 128), "successful 161-192": (161, 193)}
SHIFT = 30  # frames (1.00 s at 30 fps) cut from the start of the copy


def decode(path: Path) -> tuple[list[np.ndarray], float, np.ndarray | None, int]:
    """(RGB frames, fps, mono float32 samples or None, sample rate) of a video, with PyAV."""
    import av

    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        fps = float(vs.average_rate)
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(vs)]
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return frames, fps, None, 0
        a = c.streams.audio[0]
        res = av.AudioResampler(format="flt", layout="mono", rate=48000)
        chunks = []
        for f in c.decode(a):
            chunks += [o.to_ndarray().reshape(-1) for o in res.resample(f)]
        chunks += [o.to_ndarray().reshape(-1) for o in res.resample(None)]
    return frames, fps, np.concatenate(chunks), 48000


def write_video(dst: Path, frames: list[np.ndarray], fps: float, audio: np.ndarray | None, rate: int = 48000) -> Path:
    """RGB frames (H.264, near-lossless) and a mono soundtrack (Opus) into a Matroska file."""
    import av
    from fractions import Fraction

    with av.open(str(dst), "w") as c:
        vs = c.add_stream("libx264", rate=Fraction(fps).limit_denominator(10000))
        vs.height, vs.width = frames[0].shape[:2]
        vs.pix_fmt = "yuv420p"
        vs.options = {"crf": "16", "preset": "veryfast"}
        ast = None
        if audio is not None:
            ast = c.add_stream("libopus", rate=rate)
            ast.layout = "mono"
        for im in frames:
            for p in vs.encode(av.VideoFrame.from_ndarray(im, format="rgb24")):
                c.mux(p)
        for p in vs.encode():
            c.mux(p)
        if ast is not None:
            pcm = np.clip(audio, -1, 1).astype(np.float32)
            step = 960
            for i in range(0, len(pcm), step):
                f = av.AudioFrame.from_ndarray(pcm[None, i:i + step], format="flt", layout="mono")
                f.sample_rate = rate
                f.pts = i
                for p in ast.encode(f):
                    c.mux(p)
            for p in ast.encode():
                c.mux(p)
    return dst


def music(seconds: float, rate: int = 48000, seed: int = 8, bpm: float = 120.0) -> np.ndarray:
    """A made-up tune at ``bpm``: plucked notes of a pentatonic scale on every half beat over a
    kick drum on the beat, as a dance class's music would carry a beat and a melody."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    out = np.zeros(n)
    scale = 220.0 * 2 ** (np.array([0, 2, 4, 7, 9, 12, 14, 16]) / 12)
    note = int(30.0 / bpm * rate)  # half a beat
    t = np.arange(note) / rate
    for start in range(0, n, note):
        f = rng.choice(scale)
        tone = sum(np.sin(2 * np.pi * f * k * t) / k for k in (1, 2, 3)) * np.exp(-t * 7)
        out[start:start + note] += 0.25 * tone[:n - start]
    kick_t = np.arange(int(0.15 * rate)) / rate
    kick = np.sin(2 * np.pi * (110 * kick_t - 150 * kick_t ** 2)) * np.exp(-kick_t * 25)
    for start in range(0, n, 2 * note):
        out[start:start + len(kick)] += 0.5 * kick[:n - start]
    return (out / np.abs(out).max() * 0.5).astype(np.float32)


def make_copies(folder: Path, video: Path = VIDEO, shift: int = SHIFT) -> dict[str, Path]:
    """The test copies of the video: ``cut`` (the first ``shift`` frames and the same stretch of
    its own soundtrack removed), ``music_full`` and ``music_cut`` (the same frames with a tune
    mixed into the real soundtrack, the tune cut with them)."""
    frames, fps, audio, rate = decode(video)
    cut_at = round(shift / fps * rate)
    tune = music(len(audio) / rate, rate) + audio
    return {"cut": write_video(folder / "cut.mkv", frames[shift:], fps, audio[cut_at:], rate),
            "music_full": write_video(folder / "music_full.mkv", frames, fps, tune, rate),
            "music_cut": write_video(folder / "music_cut.mkv", frames[shift:], fps, tune[cut_at:], rate)}


def rotate_about(landmarks: np.ndarray, size: tuple[int, int], pivot: str, moved: tuple[str, ...],
                 degrees: float) -> np.ndarray:
    """A copy with the ``moved`` landmarks turned about ``pivot`` in the picture (pixels, so the
    turn is true on a non-square frame): one joint bent differently, everything else as it was."""
    from pi_coach.pose import INDEX

    out = np.array(landmarks, np.float32)
    w, h = size
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    p = out[:, INDEX[pivot], :2] * (w, h)
    for name in moved:
        q = out[:, INDEX[name], :2] * (w, h) - p
        out[:, INDEX[name], 0] = (p[:, 0] + c * q[:, 0] - s * q[:, 1]) / w
        out[:, INDEX[name], 1] = (p[:, 1] + s * q[:, 0] + c * q[:, 1]) / h
    return out


PERTURBATIONS = {  # joint -> (pivot, landmarks moved, degrees)
    "left elbow": ("left_elbow", ("left_wrist", "left_pinky", "left_index", "left_thumb"), 30.0),
    "left knee": ("left_knee", ("left_ankle", "left_heel", "left_foot_index"), 20.0),
}


def measure(clips: dict) -> dict:
    """Every figure, from clips: ``video``, ``cut``, ``music_full``, ``music_cut`` (pi_coach.clips.Clip)."""
    from dataclasses import replace

    from pi_coach.clips import compare_clips

    video, cut = clips["video"], clips["cut"]
    out: dict = {}
    c = compare_clips(video, video)
    out["self"] = {"score": round(c.score, 2), "shift": c.alignment.shift, "method": c.alignment.method}
    for name, att, audio in (("cut, real soundtrack", cut, True), ("cut, poses only", cut, False),
                             ("cut, music", replace(cut, soundtrack=clips["music_cut"].soundtrack), True)):
        ref = replace(video, soundtrack=clips["music_full"].soundtrack) if "music" in name else video
        c = compare_clips(ref, att, use_audio=audio)
        a = c.alignment
        out[name] = {"true_shift": SHIFT, "found_shift": round(a.shift, 2), "method": a.method,
                     "audio_confidence": round(a.audio.confidence, 1) if a.audio else None,
                     "score": round(c.score, 1), "mirrored": c.mirrored}
    for joint, (pivot, moved, deg) in PERTURBATIONS.items():
        from dataclasses import replace as rep

        att = rep(video, landmarks=rotate_about(video.landmarks, video.size, pivot, moved, deg), soundtrack=None)
        c = compare_clips(video, att)
        from pi_coach.compare import JOINT_NAMES

        scores = {n: round(float(s), 1) for n, s in zip(JOINT_NAMES, c.joint_scores)}
        out[f"perturbed {joint} {deg:g} deg"] = {"lowest": min(scores, key=lambda k: scores[k] if scores[k] == scores[k] else 999),
                                                 "score": round(c.score, 1), "joints": scores}
    out["left steps"] = step_matrix(video, LEFT_STEPS)
    out["right steps"] = step_matrix(video, RIGHT_STEPS)
    return out


def step_matrix(video, steps: dict[str, tuple[int, int]]) -> dict:
    """Every annotated step of ``steps`` as the attempt against every other as the reference
    (poses only: the soundtrack is a room hum)."""
    from pi_coach.clips import compare_clips
    from pi_coach.compare import JOINT_NAMES

    out = {}
    for a, ra in steps.items():
        for b, rb in steps.items():
            if a != b:
                c = compare_clips(video.cut(*ra), video.cut(*rb), use_audio=False)
                out[f"{b} against {a}"] = {"score": round(c.score, 1), "mirrored": c.mirrored,
                                           "as danced": round(c.score_as_danced, 1),
                                           "mirrored score": round(c.score_mirrored, 1),
                                           "weight": round(float(c.joint_scores[JOINT_NAMES.index("weight")]), 1)}
    return out


def print_matrix(title: str, cells: dict, steps: dict) -> None:
    """A table: one row per attempt, one column per reference, the score (m: the mirrored reference fitted)."""
    names = list(steps)
    print(f"{title}: attempt (row) against reference (column); m = mirrored reference fitted better")
    print(" " * 20 + "".join(f"{n:>20}" for n in names))
    for b in names:
        row = "".join(f"{'-':>20}" if a == b else
                      f"{cells[f'{b} against {a}']['score']:>19.1f}{'m' if cells[f'{b} against {a}']['mirrored'] else ' '}"
                      for a in names)
        print(f"{b:>20}{row}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.compare_eval", description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=VIDEO)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--steps", action="store_true", help="only the matrices of the annotated steps (no copies)")
    args = parser.parse_args(argv)
    from pi_coach.clips import load_clip

    if args.steps:
        video = load_clip(args.video, progress=False)
        for title, steps in (("left steps", LEFT_STEPS), ("right steps", RIGHT_STEPS)):
            cells = step_matrix(video, steps)
            print(json.dumps(cells, indent=1)) if args.json else print_matrix(title, cells, steps)
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        paths = make_copies(Path(tmp), args.video)
        video, cut = load_clip(args.video), load_clip(paths["cut"])
        clips = {"video": video, "cut": cut,
                 "music_full": load_clip_sound(paths["music_full"], video), "music_cut": load_clip_sound(paths["music_cut"], cut)}
        figures = measure(clips)
    if args.json:
        print(json.dumps(figures, indent=1))
        return 0
    for k, v in figures.items():
        if k in ("left steps", "right steps"):
            print_matrix(k, v, LEFT_STEPS if k == "left steps" else RIGHT_STEPS)
        else:
            print(f"{k}: {v}")
    return 0


def load_clip_sound(path: Path, like):
    """A clip with the landmarks of ``like`` (the same frames, already through MediaPipe) and the
    soundtrack of ``path``."""
    from dataclasses import replace

    from pi_coach.audio_sync import read_soundtrack

    return replace(like, soundtrack=read_soundtrack(path), path=path)


if __name__ == "__main__":
    sys.exit(main())
