"""Run the emulator in its own process for benchmarks.

In the same process the emulator and the client would share one interpreter
lock, and the numbers would measure that contention rather than either side.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

CHILD = r"""
import json, sys, time
from civitai_emulator import EmulatorConfig, Faults, running_emulator
# The CDN answers on a thread of its own; let it take the interpreter lock back
# within 1 ms (not Python's 5) while the API thread builds a large answer.
sys.setswitchinterval(0.001)
spec = json.loads(sys.argv[1])
faults = Faults(**spec.pop("faults", {}))
with running_emulator(EmulatorConfig(faults=faults, **spec)) as emu:
    print(json.dumps({
        "base_url": emu.base_url,
        "image_base_url": emu.image_base_url,
        "api_key": emu.api_key,
        "named": {k: v for k, v in emu.dataset.named.items()},
        "collection_sizes": {str(k): len(c.image_ids) for k, c in emu.dataset.collections.items()},
    }), flush=True)
    sys.stdin.read()  # until the parent closes our stdin
"""


@dataclass(frozen=True)
class EmulatorProcess:
    base_url: str
    image_base_url: str
    api_key: str
    named: dict[str, Any]
    collection_sizes: dict[str, int]

    def env(self) -> dict[str, str]:
        """Environment variables that point civitai-vault at this emulator."""
        return {
            "CIVITAI_BASE_URL": self.base_url,
            "CIVITAI_IMAGE_BASE_URL": self.image_base_url,
            "CIVITAI_API_KEY": self.api_key,
            "CIVITAI_SITE": "red",
        }


@contextmanager
def emulator_process(**spec: Any) -> Iterator[EmulatorProcess]:
    """`spec` is EmulatorConfig's fields, with `faults` as a dict of Faults fields."""
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(spec)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line:
            raise RuntimeError("the emulator process did not start")
        yield EmulatorProcess(**json.loads(line))
    finally:
        if process.stdin:
            process.stdin.close()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
