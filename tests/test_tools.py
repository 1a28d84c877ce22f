"""The desktop tools end to end on small inputs: train, export, evaluate, bench (no timings asserted)."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from .conftest import REPO

pytest.importorskip("tensorflow", reason="the train extra (tensorflow-cpu) is not installed")
pytest.importorskip("anny", reason="the synth extra is not installed")


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny") / "ds"
    proc = subprocess.run([sys.executable, "-m", "tools.synth", str(out), "--stills", "40", "--clips", "0",
                           "--workers", "1", "--seed", "4", "--subjects", "10"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


def test_train_exports_int8_models_that_the_runtime_loads(tiny_dataset, tmp_path):
    from pi_coach.classify import MoveClassifier

    out = tmp_path / "train"
    proc = subprocess.run([sys.executable, "-m", "tools.train", str(tiny_dataset), "--out", str(out), "--ship",
                           str(tmp_path / "models"), "--epochs", "2", "--folds", "1", "--members", "2",
                           "--archs", "temporal_cnn,knn"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    clf = MoveClassifier(tmp_path / "models" / "moves.tflite")
    assert clf._in["dtype"] == np.int8 and clf.labels[-1] == "none"
    averaged = MoveClassifier(out / "temporal_cnn_x2.tflite")  # two members averaged in one int8 file
    assert averaged._in["dtype"] == np.int8 and averaged.spec["arch"] == "temporal_cnn_x2"
    report = (out / "REPORT.md").read_text()
    assert "| temporal_cnn" in report and "| temporal_cnn_x2" in report and "| knn |" in report
    assert report.count("(default) |") == 1 and "Counting them as the move intended" in report
    for png in ("confusion_temporal_cnn.png", "training_curves.png"):
        assert (out / png).stat().st_size > 5000


def test_evaluate_a_folder_of_labelled_photos(tmp_path, capsys):
    from tools.evaluate import main

    (tmp_path / "passe").mkdir()
    shutil.copy(REPO / "samples/photos/tree_pose.jpeg", tmp_path / "passe" / "tree.jpeg")
    (tmp_path / "none").mkdir()
    shutil.copy(REPO / "samples/photos/standing.jpeg", tmp_path / "none" / "standing.jpeg")
    assert main([str(REPO / "models/moves.tflite"), str(tmp_path), "--png", str(tmp_path / "cm.png")]) == 0
    out = capsys.readouterr().out
    assert "2 samples" in out and "macro" in out and "latency: median" in out
    assert (tmp_path / "cm.png").is_file()


def test_evaluate_a_dataset_directory(tiny_dataset, capsys):
    from tools.evaluate import main

    assert main([str(REPO / "models/moves.tflite"), str(tiny_dataset)]) == 0
    assert "40 samples" in capsys.readouterr().out


def test_bench_prints_medians_and_the_ratio(capsys):
    from tools.bench import main

    assert main(["pipeline", "--frames", "12", "--warmup", "2"]) == 0
    out = capsys.readouterr().out
    for stage in ("decode", "pose", "classify", "rules", "drawing", "mediapipe alone"):
        assert stage in out
    assert "pipeline / MediaPipe alone:" in out


def test_model_spec_names_its_features():
    spec = json.loads((REPO / "models/moves.json").read_text())
    assert spec["kind"] == "landmarks" and spec["features"] and spec["model"] == "moves.tflite"


def test_teaching_the_box_a_new_move_end_to_end(tiny_dataset, tmp_path, shared_data, monkeypatch, capsys):
    """Record takes (the real dance video standing in for the camera), train with the synthetic
    data, install the model (refused without rules, accepted as recognise-only), recognise."""
    import json

    from pi_coach.cli import main

    video = str(shared_data / "dance-video" / "example_video.webm")
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    takes = tmp_path / "takes"
    assert main(["record", "--move", "side_step", "--takes", "6", "--seconds", "1.5", "--countdown", "0", "--rest", "0.3",
                 "--source", video, "--display", "dummy", "--out", str(takes)]) == 0
    rows = (takes / "labels.csv").read_text().splitlines()
    assert len(rows) == 7 and all(",side_step,none," in r for r in rows[1:])
    assert np.load(next((takes / "landmarks").glob("*.npy"))).shape[1:] == (33, 4)

    proc = subprocess.run([sys.executable, "-m", "tools.train", str(takes), str(tiny_dataset), "--out", str(tmp_path / "train"),
                           "--ship", str(tmp_path / "new"), "--epochs", "25", "--folds", "1", "--archs", "temporal_cnn"],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    spec = json.loads((tmp_path / "new" / "moves.json").read_text())
    assert spec["labels"][-1] == "side_step"

    store, model = str(tmp_path / "store"), str(tmp_path / "new" / "moves.tflite")
    capsys.readouterr()
    assert main(["models", "install", model, "--store", store, "--rules", str(REPO / "rules" / "ballet"), "--no-reload"]) == 2
    assert "no rule file for side_step" in capsys.readouterr().err
    assert main(["models", "install", model, "--store", store, "--rules", str(REPO / "rules" / "ballet"),
                 "--recognise-only", "--no-reload"]) == 0
    live = tmp_path / "store" / "current" / "moves.tflite"
    capsys.readouterr()
    assert main(["analyze", video, "--model", str(live), "--step", "3", "--json", "--quiet"]) == 0
    frames = json.loads(capsys.readouterr().out)["frames"]
    named = [f["move"] for f in frames]
    assert named.count("side_step") > 0.6 * len(named)


def test_arms_of_another_move_hang_from_the_dancers_own_shoulders():
    """The arm swap gives move windows the port de bras of another move and leaves everything
    else alone: the legs, the neutral class's arms, and each arm's offset from its own shoulder."""
    from pi_coach.classify import pose_features
    from pi_coach.pose import INDEX
    from tools.movedata import ARMS, CLASSES, swap_arms

    from .conftest import make_pose

    fifth = pose_features(make_pose({"left_wrist": (560, 150), "right_wrist": (440, 150),
                                     "left_elbow": (600, 250), "right_elbow": (400, 250)}))
    low = pose_features(make_pose({"left_hip": (560, 560), "right_hip": (440, 560)}))  # another body
    f = np.stack([np.repeat(p[None], 8, 0) for p in (fifth, low, low)]).reshape(3, 8, 33, 3)
    y = np.array([CLASSES.index("passe"), CLASSES.index("releve"), CLASSES.index("none")])
    swapped = f.copy()
    swap_arms(swapped, y != CLASSES.index("none"), np.random.default_rng(0), share=1.0)
    arm_points = [i for _, points in ARMS.values() for i in points]
    rest = [i for i in range(33) if i not in arm_points]
    assert np.array_equal(swapped[:, :, rest], f[:, :, rest]) and np.array_equal(swapped[2], f[2])
    moved = [k for k in (0, 1) if not np.array_equal(swapped[k], f[k])]
    assert moved, "with share 1 the move windows take another move's arms"
    shoulder, wrist = INDEX["left_shoulder"], INDEX["left_wrist"]
    for k in moved:
        donor = 1 - k
        assert np.allclose(swapped[k, :, wrist, :2] - swapped[k, :, shoulder, :2],
                           f[donor, :, wrist, :2] - f[donor, :, shoulder, :2])


def test_true_joints_for_measuring_what_a_perfect_pose_estimator_would_allow(tiny_dataset, tmp_path, capsys):
    """``--landmarks truth`` puts the studio's true joints where its body model has them (seen) and
    keeps MediaPipe's elsewhere; a dataset without true joints is refused by path, and a model
    trained on them is never shipped."""
    from pi_coach.pose import INDEX
    from tools import train
    from tools.movedata import sample_landmarks

    found = sample_landmarks(tiny_dataset, "still000000")
    truth = sample_landmarks(tiny_dataset, "still000000", "truth")
    raw = np.load(tiny_dataset / "truth" / "still000000.npy").reshape(-1, 33, 3)
    knee, eye = INDEX["left_knee"], INDEX["left_eye_inner"]  # the body model has knees, not inner eyes
    assert np.array_equal(truth[0, knee, :2], raw[0, knee, :2]) and truth[0, knee, 3] == 1.0
    assert np.isnan(raw[0, eye, 0]) and np.array_equal(truth[0, eye], found[0, eye], equal_nan=True)
    with pytest.raises(SystemExit):
        train.main([str(tiny_dataset), "--landmarks", "truth", "--ship", str(tmp_path / "models")])
    assert "not with --ship" in capsys.readouterr().err
    bare = tmp_path / "bare"
    shutil.copytree(tiny_dataset, bare, ignore=shutil.ignore_patterns("truth"))
    with pytest.raises(SystemExit, match=r"bare/truth/still\d+\.npy: no true joints"):
        sample_landmarks(bare, "still000000", "truth")
