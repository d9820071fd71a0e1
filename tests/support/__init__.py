"""What tests and benchmarks share: building archives, syncing from the emulator, a browser."""
