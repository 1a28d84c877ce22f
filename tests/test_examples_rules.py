"""The example rule files (rules/examples) validate and find the labelled errors in real landmark data.

The data are the exercise-form CSVs in the checkout's sibling ``../shared/data``. Every 5th frame is used to keep it fast. The thresholds sit a
little below the balanced accuracy measured with ``python -m tools.rules_eval`` (all frames,
16:9 frames), so a regression in the rules or the engine fails here.
"""

from __future__ import annotations

import pytest

from pi_coach.rulebook import load_rule_file
from tools import rules_eval

from .conftest import REPO

RULES = REPO / "rules" / "examples"

# Balanced accuracy must stay above these (measured over tune and held-out parts together:
# bicep lean back 0.70, plank low back 0.94, plank high back 0.99, lunge knee over toe 0.95).
MIN_BALANCED_ACCURACY = {
    "lean_back": 0.66,
    "back_sag": 0.90,
    "hips_high": 0.96,
    "knee_over_toe": 0.91,
}


@pytest.mark.parametrize("name,move", [("bicep_curl", "bicep_curl"), ("plank", "plank"), ("lunge", "lunge")])
def test_example_rule_files_validate(name, move):
    rules = load_rule_file(RULES / f"{name}.toml")
    assert rules.move == move
    ids = {c.id for c in rules.checks}
    assert {"bicep_curl": {"lean_back"}, "plank": {"back_sag", "hips_high"}, "lunge": {"knee_over_toe"}}[move] <= ids
    for check in rules.checks:
        assert check.too_low or check.too_high


@pytest.fixture(scope="module")
def results(shared_data):
    data = shared_data / "exercise-form" / "train"
    return {spec.check: rules_eval.metrics(rules_eval.combine([o for _, o in per_part]))
            for spec, per_part in rules_eval.evaluate_errors(data, RULES, part="all", step=5)}


@pytest.mark.parametrize("check", sorted(MIN_BALANCED_ACCURACY))
def test_error_found_on_real_data(results, check):
    m = results[check]
    assert m["used"] > 500, f"{check}: only {m['used']} frames could be measured"
    assert m["unmeasured"] < 0.05 * (m["used"] + m["unmeasured"])
    assert m["balanced_accuracy"] > MIN_BALANCED_ACCURACY[check], (
        f"{check}: balanced accuracy {m['balanced_accuracy']:.3f} is below {MIN_BALANCED_ACCURACY[check]} "
        f"(recall {m['recall']:.3f}, specificity {m['specificity']:.3f})")
