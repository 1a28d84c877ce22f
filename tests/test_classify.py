"""The shipped move models, run through the real LiteRT interpreter, and their failure modes."""

import json
import shutil

import numpy as np
import pytest

from pi_coach.classify import NUM_FEATURES, ModelError, MoveClassifier, mirror_features, pose_features
from pi_coach.moves import BALLET_MOVES
from pi_coach.sources import read_image

from .conftest import REPO, make_pose

MODEL = REPO / "models" / "moves.tflite"
IMAGE_MODEL = REPO / "models" / "moves_image.tflite"


@pytest.fixture(scope="module")
def classifier():
    return MoveClassifier(MODEL)


def test_shipped_models_are_small_int8_with_their_spec(classifier):
    for path in (MODEL, IMAGE_MODEL):
        assert path.stat().st_size < 500 * 1024
        spec = json.loads(path.with_suffix(".json").read_text())
        assert set(BALLET_MOVES) <= set(spec["labels"]) and "none" in spec["labels"]
    assert classifier._in["dtype"] == np.int8 and classifier.window >= 1
    assert MoveClassifier(IMAGE_MODEL).kind == "image"


def test_guess_is_a_distribution_over_the_labels(classifier):
    guess = classifier.classify_still(make_pose())
    assert guess.move in classifier.labels
    assert abs(sum(guess.scores.values()) - 1) < 0.05 and guess.confidence == max(guess.scores.values())


@pytest.mark.parametrize("photo, moves", [("image1.png", {"none"}), ("image2.jpeg", {"none", "first_position"}),
                                          ("image3.jpeg", {"passe"})])
def test_real_photos(classifier, estimator, shared_data, photo, moves):
    """Real photos: people standing about are the neutral class, or first position for the man
    standing with his heels together and toes turned out (image2); the yoga tree pose, hands
    together at the chest, is a passé by its legs. models/MODEL_CARD.md has every real photo."""
    guess = classifier.classify_still(estimator.estimate(read_image(shared_data / "pose-photos" / "tf-examples" / photo)))
    assert guess.move in moves, guess.scores


def test_live_window_slides(classifier):
    first = classifier.classify_pose(make_pose())
    for _ in range(classifier.window):
        last = classifier.classify_pose(make_pose())
    assert first.move == last.move


def test_features_mirror_back_and_hide_unknown_landmarks():
    f = pose_features(make_pose())
    assert f.shape == (NUM_FEATURES,)
    assert np.allclose(mirror_features(mirror_features(f)), f)
    assert np.allclose(mirror_features(f), pose_features(make_pose().mirrored()), atol=1e-5)
    hidden = pose_features(make_pose(hidden=("left_ankle",)).gated()).reshape(33, 3)
    assert (hidden[27] == 0).all()
    assert (pose_features(None) == 0).all()


def copy_model(tmp_path, name="m"):
    shutil.copy(MODEL, tmp_path / f"{name}.tflite")
    shutil.copy(MODEL.with_suffix(".json"), tmp_path / f"{name}.json")
    return tmp_path / f"{name}.tflite"


def test_missing_corrupt_and_mismatched_models_name_the_file(tmp_path):
    with pytest.raises(ModelError, match="no such file"):
        MoveClassifier(tmp_path / "absent.tflite")
    path = copy_model(tmp_path)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(ModelError, match=f"{path}: not a valid TFLite model"):
        MoveClassifier(path)
    path = copy_model(tmp_path, "labels")
    spec = json.loads(path.with_suffix(".json").read_text())
    spec["labels"] = spec["labels"][:-1]
    path.with_suffix(".json").write_text(json.dumps(spec))
    with pytest.raises(ModelError, match="outputs but .* labels"):
        MoveClassifier(path)
    path = copy_model(tmp_path, "window")
    spec["labels"], spec["window"] = json.loads(MODEL.with_suffix(".json").read_text())["labels"], 3
    path.with_suffix(".json").write_text(json.dumps(spec))
    with pytest.raises(ModelError, match="does not match its spec"):
        MoveClassifier(path)
    path = copy_model(tmp_path, "features")
    spec = json.loads(MODEL.with_suffix(".json").read_text())
    spec["features"] = "something-else"
    path.with_suffix(".json").write_text(json.dumps(spec))
    with pytest.raises(ModelError, match="features"):
        MoveClassifier(path)
    path.with_suffix(".json").write_text("{not json")
    with pytest.raises(ModelError, match="not a valid model spec"):
        MoveClassifier(path)
