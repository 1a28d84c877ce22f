from pi_coach.analysis import Analysis, analyze_pose, segment, smooth_moves
from pi_coach.sources import read_image

from .conftest import make_pose


def test_tree_pose_photo_is_a_passe_by_the_rules(estimator, shared_data, ballet):
    pose = estimator.estimate(read_image(shared_data / "pose-photos" / "tf-examples" / "image3.jpeg"))
    a = analyze_pose(pose, ballet)
    assert (a.move, a.move_from) == ("passe", "rules")
    assert a.confidence >= 0.8 and a.verdict.side == "right"
    doc = a.to_json()
    assert doc["pose_found"] and doc["move"] == "passe" and isinstance(doc["corrections"], list)


def test_given_move_is_checked_even_when_it_does_not_fit(estimator, shared_data, ballet):
    pose = estimator.estimate(read_image(shared_data / "pose-photos" / "tf-examples" / "image3.jpeg"))
    a = analyze_pose(pose, ballet, "attitude")
    assert a.move_from == "given"
    checks = {c["check"]: c for c in a.to_json()["corrections"]}
    assert checks["working_knee_height"]["direction"] == "low" and checks["working_knee_height"]["band"] == [-0.15, 0.6]
    assert checks["working_knee_height"]["severity"] == "major"
    assert set(checks["working_knee_height"]) >= {"check", "message", "value", "band", "severity"}
    assert "working_knee_curve" in {u["check"] for u in a.to_json()["unmeasured"]}  # judged from the side only


def test_view_restricted_checks_say_why(estimator, shared_data, ballet):
    pose = estimator.estimate(read_image(shared_data / "pose-photos" / "tf-examples" / "image3.jpeg"))
    a = analyze_pose(pose, ballet, "arabesque")
    assert a.verdict.view == "front"
    leg = next(u for u in a.to_json()["unmeasured"] if u["check"] == "leg_angle")
    assert leg["reason"] == "can only be judged from an angle or the side; the camera sees the dancer from the front"


def test_nobody_found():
    a = analyze_pose(None, None)
    assert a.to_json()["pose_found"] is False and a.move == "none"


def test_smoothing_removes_single_frame_flicker():
    moves = ["passe"] * 10 + ["arabesque"] + ["passe"] * 10
    assert smooth_moves(moves, window=5) == ["passe"] * 21


def test_segments_cover_the_frames_and_merge_short_runs(ballet):
    stand = make_pose()
    frames = [analyze_pose(stand if i < 30 or i > 34 else None, ballet, name="v", index=i, timestamp=i / 30)
              for i in range(60)]
    segments = segment(frames, ballet)
    assert [(s.move, s.start, s.end) for s in segments] == [("first_position", 0, 59)]
    assert isinstance(frames[0], Analysis)
