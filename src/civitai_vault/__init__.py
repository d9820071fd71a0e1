"""civitai-vault: archive your Civitai images with every piece of generation data."""

__version__ = "0.1.0"
