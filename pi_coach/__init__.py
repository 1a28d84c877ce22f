"""pi-coach: an offline dance-technique coach (MediaPipe landmarks, move rules, corrections)."""

__version__ = "0.1.0"
