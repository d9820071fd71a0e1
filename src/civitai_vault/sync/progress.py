"""Progress of a run: Rich bars on a terminal, plain lines elsewhere, nothing with --quiet.

Honest numbers: until a target's listing has ended nobody knows how many images
it holds (Civitai's listing says no total), so counts read "so far" and no bar
pretends to be full; once the listing has ended the totals are final and the
bars get a speed and a time remaining. Every wait longer than two seconds (a
Retry-After, a back-off) is said as it starts (the client logs it on
`civitai_vault.waits`). Off a terminal, each target ends with one line that
says what it got.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TYPE_CHECKING, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from civitai_vault.untrusted import printable, terminal_text

if TYPE_CHECKING:
    from civitai_vault.sync.summary import TargetSummary

STAGES = ("listing", "details", "downloads")
WAITS_LOGGER = "civitai_vault.waits"


class Reporter:
    """Counts per stage; subclasses decide how (and whether) to show them."""

    def __init__(self) -> None:
        self.done = dict.fromkeys(STAGES, 0)
        self.total = dict.fromkeys(STAGES, 0)
        self.listing_ended = False
        self.started = time.monotonic()

    def start_target(self, label: str) -> None:
        self.listing_ended = False

    def add_total(self, stage: str, n: int) -> None:
        self.total[stage] += n
        self._update(stage)

    def advance(self, stage: str, n: int = 1) -> None:
        self.done[stage] += n
        self._update(stage)

    def listing_done(self) -> None:
        """The target's listing has ended: from now on the totals are final."""
        self.listing_ended = True
        for stage in STAGES:
            self._update(stage)

    def finish_target(self, result: TargetSummary) -> None:
        pass

    def wait_notice(self, message: str) -> None:
        pass

    def _update(self, stage: str) -> None:
        pass

    def close(self) -> None:
        pass


class QuietReporter(Reporter):
    pass


class _WaitNotices(logging.Handler):
    def __init__(self, reporter: Reporter) -> None:
        super().__init__(logging.INFO)
        self.reporter = reporter

    def emit(self, record: logging.LogRecord) -> None:
        self.reporter.wait_notice(record.getMessage())


class _ShownReporter(Reporter):
    """A reporter someone reads: it hears of every long wait."""

    def __init__(self) -> None:
        super().__init__()
        self._notices = _WaitNotices(self)
        logger = logging.getLogger(WAITS_LOGGER)
        logger.addHandler(self._notices)
        logger.setLevel(logging.INFO)
        self._closed = False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            logging.getLogger(WAITS_LOGGER).removeHandler(self._notices)
            self._close()

    def _close(self) -> None:
        pass

    def rate(self, stage: str) -> float:
        seconds = time.monotonic() - self.started
        return self.done[stage] / seconds if seconds > 0 else 0.0

    def count(self, stage: str) -> str:
        if not self.listing_ended and stage != "listing":
            return f"{self.done[stage]} so far"
        if stage == "listing":
            return f"{self.done[stage]}" + ("" if self.listing_ended else " so far")
        return f"{self.done[stage]}/{self.total[stage]}"


class PlainReporter(_ShownReporter):
    """One line per target and a line at most every few seconds: fit for logs and pipes."""

    def __init__(self, stream: TextIO | None = None, every_seconds: float = 5.0) -> None:
        super().__init__()
        self.stream = stream or sys.stderr
        self.every = every_seconds
        self.last = 0.0
        self.counted_since_finish = False

    def start_target(self, label: str) -> None:
        super().start_target(label)
        print(f"syncing {printable(label, one_line=True)}", file=self.stream, flush=True)

    def _update(self, stage: str) -> None:
        self.counted_since_finish = True
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self._print_counts()

    def finish_target(self, result: TargetSummary) -> None:
        from civitai_vault.render import format_bytes

        state = "complete" if result.complete else "INCOMPLETE"
        line = (
            f"  {result.label}: listed {result.listed}, new {result.new}, updated "
            f"{result.updated}, downloaded {result.downloaded} files "
            f"({format_bytes(result.downloaded_bytes)}), failed {result.failed}, "
            f"removed {result.removed}, hidden {result.hidden}; {state}"
        )
        print(printable(line, one_line=True), file=self.stream, flush=True)
        self.counted_since_finish = False

    def wait_notice(self, message: str) -> None:
        print(f"  {printable(message, one_line=True)}", file=self.stream, flush=True)

    def _close(self) -> None:
        # A run that stopped inside a target says where; a finished one has said it.
        if self.counted_since_finish:
            self._print_counts()

    def _print_counts(self) -> None:
        counts = ", ".join(f"{s} {self.count(s)}" for s in STAGES)
        speed = self.rate("details") or self.rate("listing")
        print(f"  {counts}; {speed:.1f} images/s", file=self.stream, flush=True)


class _Count(ProgressColumn):
    """ "43/300", or "43 so far" while the total is not known."""

    def render(self, task: Task) -> Text:
        if task.total is None:
            return Text(f"{int(task.completed)} so far", style="progress.download")
        return Text(f"{int(task.completed)}/{int(task.total)}", style="progress.download")


class _Speed(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:.1f}/s", style="progress.data.speed")


class RichReporter(_ShownReporter):
    def __init__(self, console: Console) -> None:
        super().__init__()
        self.progress = Progress(
            TextColumn("{task.description:<10}"),
            BarColumn(),
            _Count(),
            _Speed(),
            TimeRemainingColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {
            stage: self.progress.add_task(stage, total=None) for stage in STAGES
        }
        self.progress.start()

    def start_target(self, label: str) -> None:
        super().start_target(label)
        self.progress.console.print(
            Text("syncing ", style="bold") + terminal_text(label, one_line=True), highlight=False
        )

    def wait_notice(self, message: str) -> None:
        self.progress.console.print(terminal_text(message, "yellow"))

    def _update(self, stage: str) -> None:
        final = self.listing_ended and stage != "listing"
        total = self.total[stage] if final else None
        if stage == "listing" and self.listing_ended:
            total = self.done[stage]
        self.progress.update(self.tasks[stage], completed=self.done[stage], total=total)

    def _close(self) -> None:
        self.progress.stop()


def make_reporter(*, quiet: bool, console: Console) -> Reporter:
    if quiet:
        return QuietReporter()
    if console.is_terminal:
        return RichReporter(console)
    return PlainReporter()
