import numpy as np
import pytest

from pi_coach.pose import INDEX, LANDMARK_NAMES, Landmark, Pose

from .conftest import make_pose


def test_names_follow_mediapipe_order():
    assert len(LANDMARK_NAMES) == 33
    assert Landmark.LEFT_HIP == 23 == INDEX["left_hip"]
    assert Landmark.RIGHT_FOOT_INDEX == 32


def test_shape_is_checked():
    with pytest.raises(ValueError, match=r"\(33, 4\)"):
        Pose(np.zeros((17, 4)))


def test_mirror_swaps_sides_and_flips_x():
    pose = make_pose()
    m = pose.mirrored()
    assert np.allclose(m.landmarks[INDEX["left_knee"], 0], 1 - pose.landmarks[INDEX["right_knee"], 0])
    assert np.allclose(m.landmarks[INDEX["nose"], :2], [1 - pose.landmarks[INDEX["nose"], 0], pose.landmarks[INDEX["nose"], 1]])
    assert np.allclose(m.mirrored().landmarks, pose.landmarks)


def test_gated_hides_low_visibility():
    pose = make_pose(hidden=("left_ankle",))
    gated = pose.gated()
    assert np.isnan(gated.landmarks[INDEX["left_ankle"], :3]).all()
    assert not pose.is_visible("left_ankle") and pose.is_visible("right_ankle")


def test_normalized_is_hip_centred_and_torso_scaled():
    pose = make_pose()
    norm = pose.normalized()
    mid_hip = (norm[INDEX["left_hip"]] + norm[INDEX["right_hip"]]) / 2
    mid_sh = (norm[INDEX["left_shoulder"]] + norm[INDEX["right_shoulder"]]) / 2
    assert np.allclose(mid_hip[:2], 0, atol=1e-6)
    assert np.isclose(np.linalg.norm(mid_sh[:2] - mid_hip[:2]), 1.0)


def test_normalized_does_not_depend_on_aspect_ratio():
    square = make_pose()
    wide = Pose(square.landmarks * np.array([0.5, 1, 1, 1], np.float32), 2000, 1000)
    assert np.allclose(square.normalized()[:, :2], wide.normalized()[:, :2], atol=1e-5)


def test_normalized_without_torso_is_nan():
    assert np.isnan(make_pose(hidden=()).gated(1.1).normalized()).all()
