import numpy as np
import pytest

from pi_coach.landmark_files import LandmarkFileError, read_landmarks, write_landmarks_csv
from pi_coach.pose import INDEX

from .conftest import make_pose


def test_csv_round_trip_with_labels(tmp_path):
    frames = np.stack([make_pose().landmarks, make_pose().mirrored().landmarks])
    path = tmp_path / "clip.csv"
    write_landmarks_csv(path, frames, ["C", "L"])
    clip = read_landmarks(path)
    assert clip.labels == ["C", "L"]
    assert np.allclose(clip.frames, frames, atol=1e-5)


def test_partial_csv_leaves_missing_landmarks_invisible(tmp_path):
    path = tmp_path / "part.csv"
    path.write_text("label,left_hip_x,left_hip_y,left_hip_z,left_hip_v,nose_x,nose_y\nC,0.5,0.5,0,0.9,0.5,0.1\n")
    clip = read_landmarks(path)
    assert clip.frames.shape == (1, 33, 4)
    assert clip.frames[0, INDEX["left_hip"], 3] == pytest.approx(0.9)
    assert clip.frames[0, INDEX["nose"], 3] == 1.0  # coordinates without a _v column count as seen
    assert np.isnan(clip.frames[0, INDEX["right_ankle"], 0]) and clip.frames[0, INDEX["right_ankle"], 3] == 0


def test_npy_still_and_clip(tmp_path):
    np.save(tmp_path / "still.npy", make_pose().landmarks)
    np.save(tmp_path / "clip.npy", np.stack([make_pose().landmarks] * 3))
    assert read_landmarks(tmp_path / "still.npy").frames.shape == (1, 33, 4)
    assert read_landmarks(tmp_path / "clip.npy").frames.shape == (3, 33, 4)


@pytest.mark.parametrize("name, content, message", [
    ("x.npy", np.zeros((5, 17, 2)), "expected shape"),
    ("x.npy", b"not numpy", "not a readable .npy"),
    ("x.csv", b"a,b\n1,2\n", "no landmark columns"),
    ("x.csv", b"left_hip_x,left_hip_y\n0.5\n", r"x.csv:2: 1 fields"),
    ("x.csv", b"left_hip_x,left_hip_y\n0.5,abc\n", "not a number"),
    ("x.txt", b"", "landmark files are .npy or .csv"),
])
def test_bad_landmark_files_are_clear_errors(tmp_path, name, content, message):
    path = tmp_path / name
    if isinstance(content, np.ndarray):
        np.save(path, content)
    else:
        path.write_bytes(content)
    with pytest.raises(LandmarkFileError, match=message):
        read_landmarks(path)
