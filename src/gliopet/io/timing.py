"""Frame timing of a (dynamic) PET acquisition.

Convention (docs/conventions.md): time zero is the injection. BIDS gives `FrameTimesStart`
relative to `TimeZero` and `InjectionStart` relative to `TimeZero` as well, so the frame start
relative to injection is ``FrameTimesStart - InjectionStart``. The mid-time of a frame is
``start + duration / 2``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FrameTiming:
    """Start and duration of each frame, in seconds from injection.

    Attributes
    ----------
    start_s : ndarray, shape (n_frames,)
        Frame start times (s) relative to the injection.
    duration_s : ndarray, shape (n_frames,)
        Frame durations (s).
    """

    start_s: np.ndarray
    duration_s: np.ndarray

    def __post_init__(self) -> None:
        start = np.atleast_1d(np.asarray(self.start_s, dtype=float))
        duration = np.atleast_1d(np.asarray(self.duration_s, dtype=float))
        if start.shape != duration.shape or start.ndim != 1:
            raise ValueError(
                "start_s and duration_s must be 1-D of equal length; "
                f"got {start.shape} and {duration.shape}"
            )
        object.__setattr__(self, "start_s", start)
        object.__setattr__(self, "duration_s", duration)

    @classmethod
    def from_bids(cls, frame_times_start: list[float], frame_duration: list[float],
                  injection_start_s: float = 0.0) -> FrameTiming:
        """Build from BIDS sidecar values (times relative to `TimeZero`, s)."""
        start = np.asarray(frame_times_start, dtype=float) - float(injection_start_s)
        return cls(start, np.asarray(frame_duration, dtype=float))

    @classmethod
    def from_durations(cls, durations_s: list[float] | np.ndarray,
                       first_start_s: float = 0.0) -> FrameTiming:
        """Contiguous frames of the given durations (s), starting at `first_start_s`."""
        durations = np.asarray(durations_s, dtype=float)
        start = first_start_s + np.concatenate([[0.0], np.cumsum(durations)[:-1]])
        return cls(start, durations)

    @property
    def n_frames(self) -> int:
        return int(self.start_s.size)

    @property
    def end_s(self) -> np.ndarray:
        return self.start_s + self.duration_s

    @property
    def mid_s(self) -> np.ndarray:
        """Frame mid-times (s from injection)."""
        return self.start_s + self.duration_s / 2.0

    @property
    def mid_min(self) -> np.ndarray:
        """Frame mid-times (min from injection)."""
        return self.mid_s / 60.0

    def problems(self, tolerance_s: float = 0.5, max_duration_s: float | None = None) -> list[str]:
        """Inconsistencies of the schedule, as sentences (empty when it is usable)."""
        found: list[str] = []
        if not np.all(np.isfinite(self.start_s)) or not np.all(np.isfinite(self.duration_s)):
            found.append("frame times contain non-finite values")
            return found
        bad = np.flatnonzero(self.duration_s <= 0)
        if bad.size:
            found.append(f"FrameDuration is zero or negative for frame(s) {_frames(bad)}")
        if self.n_frames > 1:
            steps = np.diff(self.start_s)
            not_increasing = np.flatnonzero(steps <= 0)
            if not_increasing.size:
                found.append("FrameTimesStart is not increasing at frame(s) "
                             f"{_frames(not_increasing + 1)}")
            overlap = np.flatnonzero(self.end_s[:-1] > self.start_s[1:] + tolerance_s)
            if overlap.size and not not_increasing.size:
                hint = ""
                if np.allclose(self.duration_s[:-1], self.start_s[1:] - self.start_s[0]):
                    hint = (
                        "; the FrameDuration values look like frame end times: "
                        "FrameDuration must be each frame's length (end - start) in s"
                    )
                found.append(
                    f"frame(s) {_frames(overlap)} overlap the next frame "
                    f"(start + FrameDuration > next FrameTimesStart){hint}"
                )
        if max_duration_s is not None:
            long = np.flatnonzero(self.duration_s > max_duration_s)
            if long.size:
                found.append(
                    f"frame(s) {_frames(long)} last "
                    f"{', '.join(f'{d:g}' for d in self.duration_s[long])} s, "
                    f"more than the plausible maximum of {max_duration_s:g} s"
                )
        return found

    def window_weights(self, start_s: float, end_s: float) -> np.ndarray:
        """Weights of the frames lying inside [start_s, end_s] (s), proportional to duration.

        Frames fully inside the window count with their duration, frames outside with zero
        (docs/conventions.md, "Static image": frame-duration-weighted mean of the frames inside
        the window).
        A frame counts as inside when its mid-time is in the window. Weights sum to 1.
        """
        inside = (self.mid_s >= start_s) & (self.mid_s <= end_s)
        weights = np.where(inside, self.duration_s, 0.0)
        total = weights.sum()
        if total <= 0:
            raise ValueError(
                f"no frame has its mid-time inside the window {start_s:g}-{end_s:g} s "
                f"(frames span {self.start_s.min():g}-{self.end_s.max():g} s)"
            )
        return weights / total


def _frames(indices: np.ndarray) -> str:
    shown = [str(int(i)) for i in indices[:6]]
    if indices.size > 6:
        shown.append(f"... ({indices.size} in all)")
    return ", ".join(shown)
