"""Progress of a run: Rich bars on a terminal, plain lines elsewhere, nothing with --quiet."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from civitai_vault.untrusted import terminal_text

STAGES = ("listing", "details", "downloads")


class Reporter:
    """Counts per stage; subclasses decide how (and whether) to show them."""

    def __init__(self) -> None:
        self.done = dict.fromkeys(STAGES, 0)
        self.total = dict.fromkeys(STAGES, 0)

    def start_target(self, label: str) -> None:
        pass

    def add_total(self, stage: str, n: int) -> None:
        self.total[stage] += n
        self._update(stage)

    def advance(self, stage: str, n: int = 1) -> None:
        self.done[stage] += n
        self._update(stage)

    def _update(self, stage: str) -> None:
        pass

    def close(self) -> None:
        pass


class QuietReporter(Reporter):
    pass


class PlainReporter(Reporter):
    """One line per target and a line at most every few seconds: fit for logs and pipes."""

    def __init__(self, stream: TextIO | None = None, every_seconds: float = 5.0) -> None:
        super().__init__()
        self.stream = stream or sys.stderr
        self.every = every_seconds
        self.last = 0.0
        self.started = False

    def start_target(self, label: str) -> None:
        self.started = True
        print(f"syncing {label}", file=self.stream, flush=True)

    def _update(self, stage: str) -> None:
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self._print_counts()

    def close(self) -> None:
        # The last word of a log is where the run ended, however short it was.
        if self.started:
            self._print_counts()

    def _print_counts(self) -> None:
        counts = ", ".join(f"{s} {self.done[s]}/{self.total[s]}" for s in STAGES)
        print(f"  {counts}", file=self.stream, flush=True)


class RichReporter(Reporter):
    def __init__(self, console: Console) -> None:
        super().__init__()
        self.progress = Progress(
            TextColumn("{task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {
            stage: self.progress.add_task(stage, total=None) for stage in STAGES
        }
        self.progress.start()

    def start_target(self, label: str) -> None:
        self.progress.console.print(
            Text("syncing ", style="bold") + terminal_text(label, one_line=True), highlight=False
        )

    def _update(self, stage: str) -> None:
        total = self.total[stage] or None
        self.progress.update(self.tasks[stage], completed=self.done[stage], total=total)

    def close(self) -> None:
        self.progress.stop()


def make_reporter(*, quiet: bool, console: Console) -> Reporter:
    if quiet:
        return QuietReporter()
    if console.is_terminal:
        return RichReporter(console)
    return PlainReporter()
