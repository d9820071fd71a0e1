"""`python -m civitai_vault.cli`: the same as the `civitai-vault` command."""

from civitai_vault.cli import main

main()
