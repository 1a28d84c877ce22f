"""Desktop-side tools, run from a checkout as ``python -m tools.<verb>``."""
