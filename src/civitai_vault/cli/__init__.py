"""The `civitai-vault` command.

Each command is a thin shell: it reads its options, calls the module that does
the work, and prints the result. Errors a user can cause end as one line on
stderr and exit code 2 (bad usage or input) or 1 (a failure), never a traceback.

Where things go:
- a command: a function decorated with `@command("name")` (core.py) in the
  module of its group; a new group is a new module, named in GROUPS below
  (their order is the order of `--help`);
- an option of one command: a parameter of that function;
- an option several commands share: `options.py`, an `Annotated` alias for a
  single flag or a field of an option group (Connection, Filters, Output).
"""

import importlib

from civitai_vault.cli.core import app, console, err_console, fail, main

# The command groups, in the order `--help` lists them; importing one registers its commands.
GROUPS = ("archive", "account", "demo", "image", "export", "analysis", "servers")
for _group in GROUPS:
    importlib.import_module(f"{__name__}.{_group}")

__all__ = ["app", "console", "err_console", "fail", "main"]
