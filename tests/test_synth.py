"""The synthetic dancer studio: bodies posed, faults injected, renders MediaPipe can read."""

import csv
import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("anny", reason="the synth extra (anny, torch, warp-lang) is not installed")

from pi_coach.pose import Pose  # noqa: E402
from pi_coach.rulebook import evaluate  # noqa: E402
from tools.synth import moves  # noqa: E402
from tools.synth.body import BodyModel  # noqa: E402
from tools.synth.render import Camera  # noqa: E402
from tools.synth.studio import _truth_2d, sample_spec  # noqa: E402

from .conftest import REPO  # noqa: E402


@pytest.fixture(scope="module")
def body_model():
    return BodyModel()


def side_camera(yaw: float) -> Camera:
    a = np.radians(yaw)
    return Camera(720, 960, 55, (3.5 * np.sin(a), -3.5 * np.cos(a), 1.0), (0, 0, 0.8))


def truth_verdict(body_model, ballet, move, fault, magnitude, yaw, side="left"):
    pose, lift = moves.build(move, fault, magnitude, side, np.random.default_rng(0))
    body = body_model.pose({"gender": 0.3}, pose, lift)
    cam = side_camera(yaw)
    truth = _truth_2d(body, cam)
    arr = np.concatenate([truth[:, :2], np.full((33, 1), np.nan), np.nan_to_num(truth[:, 2:3])], axis=1)
    return evaluate(ballet[move], Pose(arr, cam.width, cam.height))


@pytest.mark.parametrize("move, fault, check, yaw", [
    ("arabesque", "leg_too_low", "leg_angle", 90),
    ("arabesque", "working_knee_bent", "working_knee_straight", 90),
    ("passe", "toe_below_knee", "toe_at_knee", 0),
    ("grand_jete", "split_too_small", "split", 90),
    ("releve", "heels_low", "heels_high", 90),
])
def test_injected_fault_is_what_the_rule_measures(body_model, ballet, move, fault, check, yaw):
    spec = next(f for f in moves.MOVES[move].faults if f.name == fault)
    assert check in spec.checks
    good = truth_verdict(body_model, ballet, move, None, 0, yaw)
    bad = truth_verdict(body_model, ballet, move, fault, spec.high, yaw)
    status = {r.check: r.status for r in good.results}
    assert status[check] == "ok", [(r.check, r.value) for r in good.results]
    assert {r.check: r.status for r in bad.results}[check] in ("low", "high")


@pytest.mark.parametrize("yaw, view", [(0, "front"), (15, "front"), (45, "oblique"), (90, "side"), (180, "front")])
def test_camera_view_is_recognised_from_the_true_joints(body_model, ballet, yaw, view):
    assert truth_verdict(body_model, ballet, "first_position", None, 0, yaw).view == view


def test_right_side_is_the_mirror_of_the_left(body_model):
    left, _ = moves.build("arabesque", None, 0, "left", np.random.default_rng(5))
    right, _ = moves.build("arabesque", None, 0, "right", np.random.default_rng(5))
    a = body_model.pose({}, left).joints
    b = body_model.pose({}, right).joints
    assert np.allclose(a["left_ankle"] * [-1, 1, 1], b["right_ankle"], atol=0.01)
    assert a["left_ankle"][2] > a["right_ankle"][2] + 0.4  # the working leg is lifted


def test_specs_are_reproducible_from_the_seed():
    a, b = sample_spec(7, 3, "still", 10, 0.5), sample_spec(7, 3, "still", 10, 0.5)
    assert a == b and sample_spec(8, 3, "still", 10, 0.5) != a


def test_arm_variety_changes_only_the_arms(body_model):
    """With arm variety the moves come with every port de bras they are danced with, drawn from a
    stream of their own: the rest of each sample, and so a dataset made without it, stays as it was."""
    classical = [sample_spec(7, i, "clip", 10, 0.5, arm_variety=0) for i in range(60)]
    varied = [sample_spec(7, i, "clip", 10, 0.5, arm_variety=1) for i in range(60)]
    assert all(a.arms == tuple(moves.PORT_DE_BRAS.get(m, ("",))[0] for m in (a.move, *a.then)) for a in classical)
    assert all(a.arms[0] != moves.PORT_DE_BRAS[a.move][0] for a in varied if a.move != "none")
    assert [dataclasses.replace(a, arms=()) for a in varied] == [dataclasses.replace(a, arms=()) for a in classical]
    used = {arm for a in varied for m, arm in zip((a.move, *a.then), a.arms) if m == "passe"}
    assert used == set(moves.PORT_DE_BRAS["passe"][1:]), used
    # The arms move and nothing else: every bone but the arms' keeps its steps.
    fifth, _ = moves.build("passe", None, 0, "left", np.random.default_rng(0))
    hips, _ = moves.build("passe", None, 0, "left", np.random.default_rng(0), "hips")
    differ = {bone for bone in fifth if fifth[bone] != hips[bone]}
    assert differ and all(bone.startswith(("upperarm", "lowerarm")) for bone in differ), differ


def test_small_dataset_end_to_end(tmp_path):
    out = tmp_path / "ds"
    proc = subprocess.run([sys.executable, "-m", "tools.synth", str(out), "--stills", "12", "--clips", "1",
                           "--workers", "1", "--seed", "3", "--subjects", "4"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = list(csv.DictReader(open(out / "labels.csv")))
    assert len(rows) == 13 and {"sample", "move", "fault", "side", "subject", "camera"} <= set(rows[0])
    stills = [r for r in rows if r["kind"] == "still"]
    found = [r for r in stills if float(r["detected"]) == 1]
    assert len(found) >= 10, "MediaPipe should find the rendered dancer"
    assert np.median([float(r["landmark_error"]) for r in found]) < 0.15
    clip = next(r for r in rows if r["kind"] == "clip")
    lm = np.load(out / "landmarks" / f"{clip['sample']}.npy")
    assert lm.shape == (int(clip["frames"]), 33, 4)
    truth = json.loads((out / "truth" / f"{clip['sample']}.json").read_text())
    assert len(truth["frame_moves"]) == lm.shape[0]
    # The frame labels run through the clip's sequence in order, from and back to standing.
    def runs(labels):
        labels = [m for m in labels if m != "transition"]
        return [m for i, m in enumerate(labels) if i == 0 or m != labels[i - 1]]

    assert runs(truth["frame_moves"]) == runs(["none", *clip["sequence"].split("+"), "none"])
    assert (out / "contact_sheet.png").stat().st_size > 10_000
    assert "contact_sheet.png" in (out / "DATASET.md").read_text()


def test_help_documents_the_tool():
    proc = subprocess.run([sys.executable, "-m", "tools.synth", "--help"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0 and "--stills" in proc.stdout and "labels.csv" in proc.stdout
