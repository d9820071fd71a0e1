"""Progress of a run: Rich bars on a terminal, plain lines elsewhere, nothing with --quiet.

Honest numbers. Civitai's image listing says no total, so a target's listing
counts "so far" until it ends; only a Public collection's size is known up front
(collection.getInfinite's `_count.items`, asked once while planning), and then
the listing reads "43 of about 600": the site may hide some of them, so it is
never called exact. Once the listing has ended every total is final. A speed is
shown always, a time remaining only while there is a total to count down to.
Counts are per target: each target starts again from zero.

Every wait longer than two seconds (a Retry-After, a back-off, a slow pace, a
host that does not answer) is said as it starts: the client logs it on
`civitai_vault.waits`, and a shown reporter prints it (on a terminal above the
bars, elsewhere as one line on stderr). Off a terminal, each target starts with
one line, ends with one line that says what it got, and in between prints its
counts at most every few seconds.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, TextIO

from rich.console import Console, RenderableType
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
from civitai_vault.waits import waits_said_by

if TYPE_CHECKING:
    from civitai_vault.sync.summary import TargetSummary

STAGES = ("listing", "details", "downloads")


class Reporter:
    """Counts per stage of the current target; subclasses decide how (and whether) to show them."""

    def __init__(self) -> None:
        self.done = dict.fromkeys(STAGES, 0)
        self.total = dict.fromkeys(STAGES, 0)
        self.listing_ended = False
        # The server's count of the target's items (a Public collection), None when unknown.
        self.expected: int | None = None
        self.started = time.monotonic()

    def start_target(self, label: str, expected: int | None = None) -> None:
        self.done = dict.fromkeys(STAGES, 0)
        self.total = dict.fromkeys(STAGES, 0)
        self.listing_ended = False
        self.expected = expected
        self.started = time.monotonic()

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

    def wait_notice(self, message: str, seconds: float | None = None) -> None:
        """A wait of `seconds` (None: as long as it takes) has started; `message` says why."""

    def _update(self, stage: str) -> None:
        pass

    def close(self) -> None:
        pass

    def goal(self, stage: str) -> int | None:
        """What the stage counts up to, or None while nobody knows.

        The listing's goal is the server's count until the listing ends (and its
        own count after); the other stages' goals are final once the listing is."""
        if stage == "listing":
            if self.listing_ended:
                return self.done[stage]
            if self.expected is None:
                return None
            return max(self.expected, self.done[stage])
        return self.total[stage] if self.listing_ended else None

    def estimated(self, stage: str) -> bool:
        """Whether the stage's goal is the server's approximate count, not a final one."""
        return stage == "listing" and not self.listing_ended and self.expected is not None


class _ShownReporter(Reporter):
    """A reporter of a command's run: while open, every long wait is its to say."""

    def __init__(self) -> None:
        super().__init__()
        self._waits = waits_said_by(self.wait_notice)
        self._waits.__enter__()
        self._closed = False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._waits.__exit__(None, None, None)
            self._close()

    def _close(self) -> None:
        pass

    def rate(self, stage: str) -> float:
        seconds = time.monotonic() - self.started
        return self.done[stage] / seconds if seconds > 0 else 0.0

    def count(self, stage: str) -> str:
        goal = self.goal(stage)
        if goal is None:
            return f"{self.done[stage]} so far"
        if self.estimated(stage):
            return f"{self.done[stage]} of about {goal}"
        if stage == "listing":
            return f"{self.done[stage]}"
        return f"{self.done[stage]}/{goal}"

    def seconds_left(self) -> float | None:
        """Time remaining at the slowest counted stage's pace; None without a goal to count to.

        Before the listing ends only the listing can have a goal (a collection's
        count), and what it has yet to list is most of what is left to do."""
        stages = STAGES if self.listing_ended else ("listing",)
        left = 0.0
        for stage in stages:
            goal = self.goal(stage)
            remaining = 0 if goal is None else goal - self.done[stage]
            if remaining <= 0:
                continue
            rate = self.rate(stage)
            if rate <= 0:
                return None
            left = max(left, remaining / rate)
        return left or None


class QuietReporter(_ShownReporter):
    """--quiet: says nothing, long waits included."""


class PlainReporter(_ShownReporter):
    """One line per target and a line at most every few seconds: fit for logs and pipes."""

    def __init__(self, stream: TextIO | None = None, every_seconds: float = 5.0) -> None:
        super().__init__()
        self.stream = stream or sys.stderr
        self.every = every_seconds
        self.last = 0.0
        self.counted_since_finish = False

    def start_target(self, label: str, expected: int | None = None) -> None:
        super().start_target(label, expected)
        about = "" if expected is None else f": about {expected} images"
        print(f"syncing {printable(label, one_line=True)}{about}", file=self.stream, flush=True)

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

    def wait_notice(self, message: str, seconds: float | None = None) -> None:
        print(f"  {printable(message, one_line=True)}", file=self.stream, flush=True)

    def _close(self) -> None:
        # A run that stopped inside a target says where; a finished one has said it.
        if self.counted_since_finish:
            self._print_counts()

    def _print_counts(self) -> None:
        counts = ", ".join(f"{s} {self.count(s)}" for s in STAGES)
        speed = self.rate("details") or self.rate("listing")
        left = self.seconds_left()
        eta = "" if left is None else f", {_duration(left)} left"
        print(f"  {counts}; {speed:.1f} images/s{eta}", file=self.stream, flush=True)


def _duration(seconds: float) -> str:
    """ "about 40 s", "about 3 min", "about 2 h 5 min": an estimate, said as one."""
    if seconds < 60:
        return f"about {max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    return f"about {minutes // 60} h {minutes % 60} min"


class _Count(ProgressColumn):
    """ "43/300", "43 of about 600" for a server's estimate, "43 so far" without a total."""

    def render(self, task: Task) -> Text:
        if task.total is None:
            return Text(f"{int(task.completed)} so far", style="progress.download")
        between = " of about " if task.fields.get("estimated") else "/"
        return Text(f"{int(task.completed)}{between}{int(task.total)}", style="progress.download")


class _Speed(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:.1f}/s", style="progress.data.speed")


class _Bars(Progress):
    """The stage bars, and under them a status line for the wait under way (if any)."""

    status: Text | None = None
    status_until: float | None = None  # None: until another status replaces it

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        if self.status is not None and (
            self.status_until is None or time.monotonic() < self.status_until
        ):
            yield self.status


class RichReporter(_ShownReporter):
    def __init__(self, console: Console) -> None:
        super().__init__()
        self.progress = _Bars(
            TextColumn("{task.description:<10}"),
            BarColumn(),
            _Count(),
            _Speed(),
            TimeRemainingColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.tasks = self._new_tasks()
        self.progress.start()

    def _new_tasks(self) -> dict[str, TaskID]:
        return {stage: self.progress.add_task(stage, total=None) for stage in STAGES}

    def start_target(self, label: str, expected: int | None = None) -> None:
        super().start_target(label, expected)
        about = "" if expected is None else f": about {expected} images"
        self.progress.console.print(
            Text("syncing ", style="bold") + terminal_text(label, one_line=True) + about,
            highlight=False,
        )
        # New bars: a Rich task's total cannot go back to "unknown", nor its speed start over.
        for task in self.tasks.values():
            self.progress.remove_task(task)
        self.tasks = self._new_tasks()
        self._update("listing")

    def wait_notice(self, message: str, seconds: float | None = None) -> None:
        """The status line under the bars says it until the wait is over."""
        self.progress.status = terminal_text(message, "yellow")
        self.progress.status_until = None if seconds is None else time.monotonic() + seconds
        self.progress.refresh()

    def _update(self, stage: str) -> None:
        if self.progress.status is not None and self.progress.status_until is None:
            self.progress.status = None  # a wait of no set length ends when work goes on
        self.progress.update(
            self.tasks[stage],
            completed=self.done[stage],
            total=self.goal(stage),
            estimated=self.estimated(stage),
        )

    def _close(self) -> None:
        self.progress.stop()


def make_reporter(*, quiet: bool, console: Console) -> Reporter:
    if quiet:
        return QuietReporter()
    if console.is_terminal:
        return RichReporter(console)
    return PlainReporter()
