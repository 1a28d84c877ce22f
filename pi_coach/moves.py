"""The move vocabulary: snake_case ids shared by rule files, model labels, datasets and JSON."""

import re

# The shipped ballet moves; instructors add their own ids through rule files.
BALLET_MOVES = (
    "arabesque",
    "attitude",
    "passe",
    "sous_sus",
    "grand_jete",
    "demi_plie",
    "grand_plie",
    "battement_tendu",
    "releve",
    "first_position",
)
NONE = "none"  # no known move is seen

_MOVE_ID = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


def is_move_id(text: str) -> bool:
    """True for a well-formed move id: snake_case, starting with a letter, at most 48 characters."""
    return bool(_MOVE_ID.match(text)) and text != NONE
