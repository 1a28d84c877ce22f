"""Real MediaPipe on the real photos and video in ../shared/data, checked against known landmarks."""

import csv

import numpy as np
import pytest

from pi_coach.pose import LANDMARK_NAMES
from pi_coach.sources import read_image, video_frames


def test_full_model_matches_mediapipe_reference_landmarks(estimator, shared_data):
    folder = shared_data / "pose-photos" / "mediapipe-samples"
    rows = [r for r in csv.DictReader(open(folder / "test_image_expected_landmarks.csv")) if r["model"] == "full"]
    expected = np.array([[float(r["x"]), float(r["y"])] for r in sorted(rows, key=lambda r: int(r["landmark_index"]))])
    pose = estimator.estimate(read_image(folder / "test_image.jpg"))
    assert pose is not None and (pose.width, pose.height) == (960, 640)
    error = np.abs(pose.landmarks[:, :2] - expected).mean()
    assert error < 0.02, f"mean landmark error {error:.4f} of the image size"


@pytest.mark.parametrize("image, row", [("image1.png", 1), ("image2.jpeg", 2)])
def test_photos_match_hand_labelled_keypoints(estimator, shared_data, image, row):
    folder = shared_data / "pose-photos" / "tf-examples"
    table = list(csv.reader(open(folder / "pose_landmark_truth.csv")))
    names = [h[: -len("_x")] for h in table[0][::2]]
    assert set(names) <= set(LANDMARK_NAMES)
    truth = np.array(table[row], float).reshape(-1, 2)
    pose = estimator.estimate(read_image(folder / image))
    predicted = np.array([pose.xy(n) for n in names])
    error = np.linalg.norm(predicted - truth, axis=1).mean() / pose.torso_length()
    assert error < 0.12, f"mean keypoint error {error:.3f} torso lengths"


def test_nobody_in_a_blank_frame(estimator):
    assert estimator.estimate(np.full((480, 640, 3), 127, np.uint8)) is None


def test_bad_frame_is_a_clear_error(estimator):
    with pytest.raises(ValueError, match="HxWx3"):
        estimator.estimate(np.zeros((480, 640), np.uint8))


def test_video_mode_tracks_the_dancer_through_the_real_video(shared_data):
    from pi_coach.pose_estimator import PoseEstimator

    found = total = 0
    with PoseEstimator(video=True) as est:
        for frame in video_frames(shared_data / "dance-video" / "example_video.webm", step=4):
            pose = est.estimate(frame.image, frame.timestamp)
            total += 1
            found += pose is not None
            if pose is not None:
                assert pose.timestamp == frame.timestamp and (pose.width, pose.height) == (1280, 720)
    assert total == 96
    assert found / total > 0.95
