"""The Coach: hysteresis of the move, debounced corrections one at a time, holds, hints."""

from pi_coach.coach import NO_FEET, STEP_IN, Coach, CoachSettings
from pi_coach.moves import NONE

from .conftest import make_pose

FPS = 30
GOOD = make_pose()
BENT = make_pose({"left_knee": (600, 680), "right_knee": (400, 680)})  # both knees bent: two major faults
SURE = {"first_position": 0.95, NONE: 0.05}


def run(coach, frames, start=0.0):
    """Feed (pose, scores) frames at 30 fps; return every state."""
    return [coach.update(start + i / FPS, pose, scores) for i, (pose, scores) in enumerate(frames)]


def events(states, kind):
    return [e for s in states for e in s.events if e.kind == kind]


def test_a_move_is_announced_only_after_it_stays_above_the_threshold(ballet):
    coach = Coach(ballet, CoachSettings(smoothing=1.0, move_frames=5))
    states = run(coach, [(GOOD, {"first_position": 0.85, NONE: 0.15})] * 4)
    assert all(s.move == NONE for s in states)
    states = run(coach, [(GOOD, {"first_position": 0.85, NONE: 0.15})] * 2, start=1)
    assert states[-1].move == "first_position" and states[-1].title == "First position"
    assert len(events(states, "move_start")) == 1


def test_below_the_threshold_no_move_is_announced(ballet):
    coach = Coach(ballet, CoachSettings(smoothing=1.0))
    states = run(coach, [(GOOD, {"first_position": 0.79, NONE: 0.21})] * 60)
    assert {s.move for s in states} == {NONE}


def test_hysteresis_keeps_the_move_through_a_dip_and_ends_it_below_release(ballet):
    coach = Coach(ballet, CoachSettings(smoothing=1.0, move_frames=1, move_release=0.6))
    run(coach, [(GOOD, SURE)] * 3)
    dip = run(coach, [(GOOD, {"first_position": 0.65, NONE: 0.35})] * 10, start=1)
    assert {s.move for s in dip} == {"first_position"}
    gone = run(coach, [(GOOD, {"first_position": 0.3, NONE: 0.7})], start=2)
    assert gone[-1].move == NONE
    (end,) = events(gone, "move_end")
    assert end.move == "first_position" and end.detail["peak_confidence"] == 0.95


def test_one_frame_spike_is_smoothed_away(ballet):
    coach = Coach(ballet, CoachSettings(smoothing=0.4, move_frames=3))
    frames = [(GOOD, {NONE: 1.0})] * 10 + [(GOOD, SURE)] + [(GOOD, {NONE: 1.0})] * 10
    assert {s.move for s in run(coach, frames)} == {NONE}


def test_a_correction_shows_only_once_it_persists_and_one_at_a_time(ballet):
    coach = Coach(ballet, CoachSettings(smoothing=1.0, move_frames=1, correction_seconds=0.5))
    run(coach, [(GOOD, SURE)] * 5)
    early = run(coach, [(BENT, SURE)] * 12, start=1)  # 0.37 s: not yet
    assert all(s.kind != "correction" for s in early)
    later = run(coach, [(BENT, SURE)] * 10, start=1.4)
    shown = [s for s in later if s.kind == "correction"]
    assert shown and {s.message for s in shown} == {shown[0].message}  # one, and it stays
    assert shown[0].severity == "major" and "knee" in shown[0].message.lower()
    assert len(events(later, "correction")) == 1


def test_a_flicker_of_bad_form_is_not_reported(ballet):
    coach = Coach(ballet, CoachSettings(smoothing=1.0, move_frames=1, correction_seconds=0.5))
    frames = [(GOOD, SURE), (BENT, SURE)] * 30  # never bent two frames running
    assert not events(run(coach, frames), "correction")


def test_holding_correctly_earns_well_done_once(ballet):
    coach = Coach(ballet, CoachSettings(smoothing=1.0, move_frames=1, hold_seconds=2.0))
    states = run(coach, [(GOOD, SURE)] * (3 * FPS))
    assert len(events(states, "well_done")) == 1
    assert states[-1].kind == "well_done" and "First position" in states[-1].message
    assert 2.5 < states[-1].hold < 3.1 and states[-1].hold_target == 2.0
    # a fault restarts the hold
    bent = run(coach, [(BENT, SURE)] * FPS, start=3)
    assert bent[-1].hold == 0.0 and bent[-1].kind == "correction"


def test_nobody_in_the_frame_asks_to_step_in_after_a_while(ballet):
    coach = Coach(ballet, CoachSettings(smoothing=1.0, move_frames=1, missing_seconds=1.0))
    run(coach, [(GOOD, SURE)] * 5)
    states = run(coach, [(None, {})] * (2 * FPS), start=1)
    assert states[10].message == ""  # a third of a second: no nagging yet
    assert states[-1].message == STEP_IN and states[-1].kind == "hint"
    assert states[-1].move == NONE  # the move ended with the dancer gone
    assert len(events(states, "hint")) == 1


def test_hidden_feet_ask_the_dancer_to_step_back(ballet):
    feetless = make_pose(hidden=("left_ankle", "right_ankle", "left_heel", "right_heel",
                                 "left_foot_index", "right_foot_index"))
    coach = Coach(ballet, CoachSettings(missing_seconds=0.5))
    states = run(coach, [(feetless, {NONE: 1.0})] * FPS)
    assert states[-1].message == NO_FEET
    assert run(coach, [(GOOD, {NONE: 1.0})], start=2)[-1].message == ""


def test_finish_closes_the_move_in_progress(ballet):
    coach = Coach(ballet, CoachSettings(smoothing=1.0, move_frames=1))
    run(coach, [(GOOD, SURE)] * FPS)
    (end,) = coach.finish(1.0)
    assert end.kind == "move_end" and 0.9 < end.detail["duration"] <= 1.0
