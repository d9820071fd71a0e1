"""`python -m civitai_emulator`: serve the emulator in the foreground."""

from __future__ import annotations

import argparse

from civitai_emulator.config import MIN_IMAGES
from civitai_emulator.server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m civitai_emulator",
        description="A local stand-in for civitai.com (tRPC API + image CDN) for civitai-vault.",
    )
    parser.add_argument("--port", type=int, default=8765, help="API port (default 8765)")
    parser.add_argument("--cdn-port", type=int, default=None, help="CDN port (default: port + 1)")
    parser.add_argument("--seed", type=int, default=1, help="dataset seed (default 1)")
    parser.add_argument("--images", type=int, default=600, help="number of images (default 600)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--site-mode",
        choices=("green", "red"),
        default="green",
        help="green = civitai.com (R/X hidden), red = civitai.red",
    )
    parser.add_argument(
        "--encoding",
        choices=("devalue", "superjson", "mixed"),
        default="devalue",
        help="how answers are written: devalue (the live site since 2026-07), superjson, "
        "or mixed (default devalue)",
    )
    args = parser.parse_args(argv)
    if args.images < MIN_IMAGES:
        parser.error(f"--images must be at least {MIN_IMAGES}")
    try:
        serve(
            port=args.port,
            cdn_port=args.cdn_port,
            seed=args.seed,
            images=args.images,
            host=args.host,
            site_mode=args.site_mode,
            encoding=args.encoding,
        )
    except OSError as error:
        parser.exit(1, f"error: cannot listen on {args.host}:{args.port}: {error.strerror}\n")


if __name__ == "__main__":
    main()
