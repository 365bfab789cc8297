"""Progress: stage lines for long work ("loading TensorFlow", "calibrating the band"…), so no stretch is silent.

Use cases call `stage(text)`; the CLI decides where it goes (`set_sink`: a line on stderr, or
nothing with --quiet). No sink, no output: library callers and worker processes stay silent.
The epoch callbacks every training use case takes are typed here too, below all their users.
"""

from __future__ import annotations

from collections.abc import Callable

# The progress callbacks every training use case takes (defined once, here).
EpochCallback = Callable[[int, dict[str, float]], None]  # after each epoch: (epoch number, its logs)
ProgressFactory = Callable[[str], EpochCallback | None]  # a job's name → its epoch callback

_sink: Callable[[str], None] | None = None


def set_sink(sink: Callable[[str], None] | None) -> None:
    """Send stage lines to `sink` (None: drop them)."""
    global _sink
    _sink = sink


def stage(text: str) -> None:
    """Say that a stage of the work begins."""
    if _sink is not None:
        _sink(text)
