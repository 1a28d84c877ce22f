"""Shared fixtures: the real data beside the checkout, the shipped rules, a synthetic skeleton."""

from pathlib import Path

import numpy as np
import pytest

from pi_coach.pose import INDEX, NUM_LANDMARKS, Pose
from pi_coach.rulebook import load_rules

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# A dancer standing in first position, facing the camera, in pixels of a 1000x1000 image.
STANDING = {
    "nose": (500, 150), "left_eye_inner": (510, 140), "left_eye": (515, 140), "left_eye_outer": (520, 140),
    "right_eye_inner": (490, 140), "right_eye": (485, 140), "right_eye_outer": (480, 140),
    "left_ear": (530, 150), "right_ear": (470, 150), "mouth_left": (510, 170), "mouth_right": (490, 170),
    "left_shoulder": (560, 250), "right_shoulder": (440, 250), "left_elbow": (590, 370), "right_elbow": (410, 370),
    "left_wrist": (600, 480), "right_wrist": (400, 480), "left_pinky": (602, 500), "right_pinky": (398, 500),
    "left_index": (600, 505), "right_index": (400, 505), "left_thumb": (595, 495), "right_thumb": (405, 495),
    "left_hip": (540, 500), "right_hip": (460, 500), "left_knee": (535, 680), "right_knee": (465, 680),
    "left_ankle": (525, 860), "right_ankle": (475, 860), "left_heel": (515, 875), "right_heel": (485, 875),
    "left_foot_index": (560, 890), "right_foot_index": (440, 890),
}


def make_pose(changes: dict | None = None, hidden: tuple = (), size: int = 1000) -> Pose:
    """A Pose from the standing skeleton with some points moved (pixels) and some hidden."""
    points = dict(STANDING, **(changes or {}))
    arr = np.zeros((NUM_LANDMARKS, 4), np.float32)
    for name, (x, y) in points.items():
        arr[INDEX[name]] = (x / size, y / size, 0.0, 0.0 if name in hidden else 0.99)
    return Pose(arr, size, size)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real test data not found at {SHARED_DATA} (the shared/ folder beside the checkout)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def ballet():
    book, errors = load_rules(REPO / "rules" / "ballet")
    assert not errors, errors
    return book


@pytest.fixture(scope="session")
def estimator():
    from pi_coach.pose_estimator import PoseEstimator

    with PoseEstimator(video=False) as est:
        yield est
