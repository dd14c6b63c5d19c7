"""``make demo``: build a demo project from generated data and run the main job on it."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from engagekit.project import Project
from engagekit.sample import generate_endpoints


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engagekit.demo")
    parser.add_argument("--dir", type=Path, default=Path("demo-project"))
    parser.add_argument("--endpoints", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    if args.dir.exists():
        shutil.rmtree(args.dir)
    project = Project.create(args.dir, name="demo")
    endpoints = generate_endpoints(args.endpoints, seed=args.seed)
    print(f"project: {project.path}")
    print(
        f"generated {len(endpoints):,} endpoints for {endpoints['User.UserId'].nunique():,} users"
    )
    print(endpoints["ChannelType"].value_counts()[lambda s: s > 0].to_string())
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
