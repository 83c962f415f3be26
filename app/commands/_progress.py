"""A TaskContext that shows progress as a tqdm bar on stderr (only when stderr is a terminal)."""

from __future__ import annotations

import sys

from analysis._task import TaskContext


class TqdmContext:
    """Context manager yielding a :class:`TaskContext` whose progress drives a tqdm bar."""

    def __init__(self, desc: str) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=1000, desc=desc, disable=not sys.stderr.isatty(), leave=False,
                         bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}")

    def __enter__(self) -> TaskContext:
        def report(fraction: float, message: str) -> None:
            self._bar.n = int(max(0.0, min(1.0, fraction)) * 1000)
            self._bar.set_postfix_str(message[:40], refresh=True)

        return TaskContext(report=report)

    def __exit__(self, *exc: object) -> None:
        self._bar.close()
