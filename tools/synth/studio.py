"""The studio: draws bodies, looks, cameras and samples from a seed, renders them, runs MediaPipe
on what was rendered, and writes a dataset directory in the documented format.

Every sample is a pure function of (seed, sample index), so a dataset is reproducible whatever
the number of worker processes and whatever order they finish in.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from pi_coach.pose import INDEX, NUM_LANDMARKS
from pi_coach.pose_estimator import PoseEstimator  # mediapipe itself loads on first use

from . import moves
from .body import BodyModel
from .render import Camera, Look, render

CLASSES = tuple(moves.MOVES) + ("none",)
VIEWS = ("front", "front-left", "left", "back-left", "back", "back-right", "right", "front-right")
IMAGE_SIZES = ((640, 480), (480, 640), (960, 720), (720, 960), (1280, 720), (512, 512))

SKIN = ((220, 235, 250), (180, 205, 235), (150, 180, 220), (110, 150, 195), (80, 115, 160), (50, 75, 110), (35, 50, 80))
LEOTARD = ((30, 30, 30), (90, 30, 20), (50, 30, 120), (150, 110, 220), (140, 80, 150), (110, 110, 30), (180, 180, 180), (40, 40, 160))
TIGHTS = ((190, 180, 235), (30, 30, 30), (225, 225, 225), (150, 175, 215))
SHOES = ((185, 175, 240), (30, 30, 30), (230, 230, 230))
HAIR = ((20, 20, 25), (30, 50, 80), (60, 110, 160), (90, 150, 200), (40, 60, 150), (170, 170, 170))
WALLS = ((200, 210, 215), (225, 225, 225), (170, 190, 200), (150, 160, 170), (190, 200, 180), (110, 110, 115))
FLOORS = ((90, 120, 160), (60, 80, 110), (40, 40, 40), (110, 110, 110), (140, 160, 180))


@dataclass(frozen=True)
class Subject:
    """A dancer: body shape and what they wear."""

    id: str
    phenotype: dict
    skin: tuple
    leotard: tuple
    tights: tuple
    shoes: tuple
    hair: tuple
    hair_style: str


@dataclass(frozen=True)
class SampleSpec:
    """Everything that decides one sample, drawn from (seed, index)."""

    name: str
    kind: str  # still or clip
    move: str
    fault: str  # "" when correct
    magnitude: float
    side: str
    subject: Subject
    camera: Camera
    view: str
    look: Look
    frames: int
    fill: float  # share of the frame the dancer spans
    then: tuple[str, ...] = ()  # clips: correct moves danced after the first, in order
    ramp: int = 10  # clips: frames of each transition
    hold: int = 20  # clips: frames each move is held
    arms: tuple[str, ...] = ()  # the port de bras of the move and of each ``then`` move ("" for none)


def subject(seed: int, k: int) -> Subject:
    rng = np.random.default_rng([seed, 1, k])
    pheno = {"gender": rng.uniform(0, 1), "age": rng.uniform(0.3, 0.7), "muscle": rng.uniform(0.3, 0.8),
             "weight": rng.uniform(0.25, 0.65), "height": rng.uniform(0.3, 0.8), "proportions": rng.uniform(0.3, 0.8)}
    pick = lambda options: tuple(int(c) for c in options[rng.integers(len(options))])  # noqa: E731
    return Subject(f"s{k:03d}", {k_: round(float(v), 3) for k_, v in pheno.items()}, pick(SKIN), pick(LEOTARD),
                   pick(TIGHTS), pick(SHOES), pick(HAIR), str(rng.choice(["bun", "short", "long"])))


def sample_spec(seed: int, index: int, kind: str, subjects: int, fault_rate: float,
                classes: tuple[str, ...] = CLASSES, sequence: tuple[str, ...] = (),
                image_size: tuple[int, int] | None = None, arm_variety: float = 0.5) -> SampleSpec:
    """The sample's spec. A clip with a ``sequence`` dances exactly those moves, correctly, in
    order (everything else is drawn as usual); ``image_size`` fixes the frame size;
    ``arm_variety`` is the share of moves danced with another than the classical port de bras
    (drawn from a stream of its own, so it changes nothing else about the sample)."""
    rng = np.random.default_rng([seed, 2, index])
    move = str(rng.choice(classes))
    fault, magnitude = "", 0.0
    if move != "none" and rng.uniform() < fault_rate:
        f = moves.MOVES[move].faults[rng.integers(len(moves.MOVES[move].faults))]
        fault, magnitude = f.name, round(float(rng.uniform(f.low, f.high)), 1)
    side = str(rng.choice(["left", "right"]))
    who = subject(seed, int(rng.integers(subjects)))
    width, height = IMAGE_SIZES[rng.integers(len(IMAGE_SIZES))]
    if image_size is not None:
        width, height = image_size
    yaw = float(rng.uniform(-180, 180) if rng.uniform() < 0.15 else rng.uniform(-100, 100))
    view = VIEWS[int(((yaw + 22.5) % 360) // 45)]
    distance = float(rng.uniform(2.6, 4.5))
    cam_height = float(rng.uniform(0.7, 1.9))
    a = math.radians(yaw)
    # Yaw 0 films the dancer's front (she faces -y); positive yaw moves round to her left side.
    position = (distance * math.sin(a), -distance * math.cos(a), cam_height)
    target = (float(rng.normal(0, 0.1)), float(rng.normal(0, 0.1)), float(rng.uniform(0.75, 1.0)))
    cam = Camera(width, height, float(rng.uniform(45, 70)), position, target, float(rng.normal(0, 2.5)))
    look = Look(skin=who.skin, leotard=who.leotard, tights=who.tights, shoes=who.shoes, hair=who.hair,
                wall=tuple(int(c) for c in WALLS[rng.integers(len(WALLS))]),
                floor=tuple(int(c) for c in FLOORS[rng.integers(len(FLOORS))]),
                floor_kind=str(rng.choice(["wood", "marley"])), barre=bool(rng.uniform() < 0.6),
                mirror=bool(rng.uniform() < 0.4), wall_distance=float(rng.uniform(1.5, 4.0)),
                light=(float(rng.uniform(-1, 1)), float(rng.uniform(-1, 0.2)), float(rng.uniform(0.3, 1.0))),
                ambient=float(rng.uniform(0.25, 0.55)),
                tint=tuple(float(v) for v in rng.uniform(0.8, 1.1, 3)),
                extras={"barre_height": float(rng.uniform(0.9, 1.1)), "blur": float(rng.uniform(0, 1.2)),
                        "noise": float(rng.uniform(0, 6)), "jpeg": int(rng.integers(70, 96))})
    fill = float(rng.uniform(0.45, 0.85))
    then, ramp, hold, frames = (), 10, 20, 1
    if kind == "clip":
        ballet = [c for c in classes if c != "none"] or list(moves.MOVES)
        then = tuple(str(m) for m in rng.choice(ballet, int(rng.integers(0, 3)))) if move != "none" else ()
        ramp, hold = int(rng.integers(8, 16)), int(rng.integers(12, 36))
        if sequence:
            move, fault, magnitude, then = sequence[0], "", 0.0, tuple(sequence[1:])
        frames = (len(then) + 2) * ramp + (len(then) + 1) * hold  # in, each move held, between, out
    arms_rng = np.random.default_rng([seed, 4, index])
    arms = tuple(moves.port_de_bras(m, arms_rng, arm_variety) for m in (move, *then))
    return SampleSpec(f"{kind}{index:06d}", kind, move, fault, magnitude, side, who, cam, view, look, frames, fill,
                      then, ramp, hold, arms)


def _framed(body, cam: Camera, fill: float) -> Camera:
    """Move the camera along its line of sight until the dancer's joints span ``fill`` of the
    frame (height or width, whichever is tighter), then step back until all are inside."""
    joints = np.array(list(body.joints.values()))
    for _ in range(4):
        uv, depth = cam.project(joints)
        if (depth <= 0.3).any():
            break
        span = max(np.ptp(uv[:, 1]) * 1.15 / cam.height, np.ptp(uv[:, 0]) / cam.width)  # 1.15: hair, hands
        cam = _moved(cam, span / fill)
    for _ in range(8):
        uv, depth = cam.project(joints)
        top = uv[:, 1].min() - 0.06 * cam.height  # the hair and raised hands reach above the joints
        if (depth > 0.3).all() and uv[:, 0].min() > 0.04 * cam.width and uv[:, 0].max() < 0.96 * cam.width \
                and top > 0 and uv[:, 1].max() < 0.96 * cam.height:
            break
        cam = _moved(cam, 1.12)
    return cam


def _moved(cam: Camera, factor: float) -> Camera:
    """The camera moved ``factor`` times its distance from the point it looks at."""
    back = np.subtract(cam.position, cam.target) * factor
    return Camera(cam.width, cam.height, cam.fov, tuple(np.add(cam.target, back)), cam.target, cam.roll)


def _degrade(image: np.ndarray, look: Look, rng: np.random.Generator) -> bytes:
    """Camera-like blur and noise, then JPEG; returns the encoded bytes."""
    blur = look.extras["blur"]
    if blur > 0.3:
        image = cv2.GaussianBlur(image, (0, 0), blur)
    noisy = image.astype(np.float32) + rng.normal(0, look.extras["noise"], image.shape).astype(np.float32)
    ok, data = cv2.imencode(".jpg", np.clip(noisy, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, look.extras["jpeg"]])
    assert ok
    return data.tobytes()


def _truth_2d(body, cam: Camera) -> np.ndarray:
    """Ground-truth joints projected into the image as a (33, 3) x, y (normalised), visible flag."""
    out = np.full((NUM_LANDMARKS, 3), np.nan, np.float32)
    names = list(body.joints)
    uv, _ = cam.project(np.array([body.joints[n] for n in names]))
    for n, (u, v) in zip(names, uv):
        out[INDEX[n]] = (u / cam.width, v / cam.height, 1.0)
    return out


def landmark_error(found: np.ndarray, truth: np.ndarray, width: int, height: int) -> float:
    """Mean distance between MediaPipe's landmarks and the true joints, in true torso lengths."""
    scale = np.array([width, height])
    known = np.isfinite(truth[:, 0])
    t, f = truth[known, :2] * scale, found[known, :2] * scale
    sh = (truth[INDEX["left_shoulder"], :2] + truth[INDEX["right_shoulder"], :2]) / 2 * scale
    hp = (truth[INDEX["left_hip"], :2] + truth[INDEX["right_hip"], :2]) / 2 * scale
    torso = np.linalg.norm(sh - hp)
    return float(np.linalg.norm(t - f, axis=1).mean() / torso) if torso > 1 else math.nan


class Worker:
    """Per-process state: the body model and MediaPipe, loaded once."""

    def __init__(self, out: Path, save_clip_images: bool):
        self.body = BodyModel()
        self.stills = PoseEstimator(video=False)
        self.out = out
        self.save_clip_images = save_clip_images

    def run(self, spec: SampleSpec, seed: int, index: int) -> dict:
        rng = np.random.default_rng([seed, 3, index])
        if spec.kind == "still":
            return self._still(spec, rng)
        return self._clip(spec, rng)

    def _pose(self, spec: SampleSpec, pose, lift: float):
        return self.body.pose(spec.subject.phenotype, pose, lift, spec.subject.hair_style)

    def _still(self, spec: SampleSpec, rng) -> dict:
        pose, lift = moves.build(spec.move, spec.fault or None, spec.magnitude, spec.side, rng, spec.arms[0])
        body = self._pose(spec, pose, lift)
        cam = _framed(body, spec.camera, spec.fill)
        data = _degrade(render(body, cam, spec.look, rng), spec.look, rng)
        (self.out / "images" / f"{spec.name}.jpg").write_bytes(data)
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        found = self.stills.estimate(image)
        landmarks = found.landmarks if found is not None else np.full((NUM_LANDMARKS, 4), np.nan, np.float32)
        if found is None:
            landmarks[:, 3] = 0
        np.save(self.out / "landmarks" / f"{spec.name}.npy", landmarks.astype(np.float32))
        truth = _truth_2d(body, cam)
        np.save(self.out / "truth" / f"{spec.name}.npy", truth)
        self._write_truth(spec, cam, [body], [spec.move])
        error = landmark_error(landmarks, truth, cam.width, cam.height) if found is not None else math.nan
        return self._row(spec, cam, float(found is not None), error)

    def _clip(self, spec: SampleSpec, rng) -> dict:
        """From standing into the move (and on into the ``then`` moves), each held, and back.

        A frame is labelled with a move once the body is 80% of the way into it, ``none`` while
        80% standing, and ``transition`` in between (left out of training)."""
        keys = [(*moves.build("none", None, 0, spec.side, rng), "none")]
        keys.append((*moves.build(spec.move, spec.fault or None, spec.magnitude, spec.side, rng, spec.arms[0]), spec.move))
        keys += [(*moves.build(m, None, 0, spec.side, rng, a), m) for m, a in zip(spec.then, spec.arms[1:])]
        keys.append(keys[0])
        frames = []  # (pose, lift, label) per frame
        for k, ((a, lift_a, lab_a), (b, lift_b, lab_b)) in enumerate(zip(keys, keys[1:])):
            if k > 0:
                frames += [(a, lift_a, lab_a)] * spec.hold
            for t in range(spec.ramp):
                x = 0.5 - 0.5 * math.cos(math.pi * (t + 1) / spec.ramp)
                label = lab_b if x >= 0.8 else lab_a if x <= 0.2 else "transition"
                frames.append((moves.interpolate(a, b, x), lift_a + (lift_b - lift_a) * x, label))
        cam = _framed(self._pose(spec, keys[1][0], keys[1][1]), spec.camera, spec.fill)
        folder = self.out / "images" / spec.name
        if self.save_clip_images:
            folder.mkdir(parents=True, exist_ok=True)
        bodies, landmarks, truth, errors, found_count = [], [], [], [], 0
        with PoseEstimator(video=True) as est:
            for t, (pose_spec, lift, _) in enumerate(frames):
                body = self._pose(spec, pose_spec, lift)
                data = _degrade(render(body, cam, spec.look, rng), spec.look, rng)
                if self.save_clip_images:
                    (folder / f"{t:04d}.jpg").write_bytes(data)
                image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
                pose = est.estimate(image, t / 30)
                arr = pose.landmarks if pose is not None else np.full((NUM_LANDMARKS, 4), np.nan, np.float32)
                if pose is None:
                    arr[:, 3] = 0
                landmarks.append(arr)
                truth.append(_truth_2d(body, cam))
                if pose is not None:
                    found_count += 1
                    errors.append(landmark_error(arr, truth[-1], cam.width, cam.height))
                bodies.append(body)
        np.save(self.out / "landmarks" / f"{spec.name}.npy", np.stack(landmarks).astype(np.float32))
        np.save(self.out / "truth" / f"{spec.name}.npy", np.stack(truth))
        self._write_truth(spec, cam, bodies, [label for _, _, label in frames])
        n = len(frames)
        return self._row(spec, cam, found_count / n, float(np.nanmean(errors)) if errors else math.nan)

    def _write_truth(self, spec: SampleSpec, cam: Camera, bodies, labels) -> None:
        doc = {"sample": spec.name, "move": spec.move, "fault": spec.fault, "magnitude": spec.magnitude,
               "side": spec.side, "arms": list(spec.arms), "subject": asdict(spec.subject), "camera": asdict(cam),
               "look": asdict(spec.look), "frame_moves": labels,
               "joints3d": [{n: [round(float(c), 4) for c in p] for n, p in b.joints.items()} for b in bodies]}
        (self.out / "truth" / f"{spec.name}.json").write_text(json.dumps(doc))

    def _row(self, spec: SampleSpec, cam: Camera, detected: float, error: float) -> dict:
        return {"sample": spec.name, "move": spec.move, "fault": spec.fault or "none", "magnitude": spec.magnitude,
                "side": spec.side, "arms": spec.arms[0], "subject": spec.subject.id, "camera": spec.view, "kind": spec.kind,
                "sequence": "+".join((spec.move, *spec.then)) if spec.kind == "clip" else "",
                "frames": spec.frames, "width": cam.width, "height": cam.height,
                "detected": round(detected, 3), "landmark_error": round(error, 4) if math.isfinite(error) else ""}


COLUMNS = ("sample", "move", "fault", "magnitude", "side", "arms", "subject", "camera", "kind", "sequence", "frames",
           "width", "height", "detected", "landmark_error")


def write_labels(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, COLUMNS)
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda r: r["sample"]))


_worker: Worker | None = None  # this pool process's Worker, made by init_worker


def init_worker(out: str, clip_images: bool) -> None:
    """Pool initializer: one Worker per process, single-threaded (the processes are the parallelism)."""
    global _worker
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    _worker = Worker(Path(out), clip_images)


def run_job(job: tuple[SampleSpec, int, int]) -> dict:
    spec, seed, index = job
    return _worker.run(spec, seed, index)
