"""Headless Chromium for looking at rendered reports (`make test` installs Debian's chromium)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium is not installed (`make chromium` installs Debian's package)")
    return exe


def screenshot(html: Path, png: Path, *, width: int = 1280, height: int = 2400) -> Path:
    """Render a local HTML file in headless Chromium and save a PNG of the page."""
    profile = png.parent / f".chromium-{png.stem}"
    cmd = [
        chromium(),
        *FLAGS,
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        f"--screenshot={png}",
        html.resolve().as_uri(),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    return png


def ink_fraction(png: Path) -> float:
    """Share of pixels that are not (near) white: 0.0 for a blank page."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(png).convert("L"), dtype=np.uint8)
    return float((pixels < 235).mean())


def colour_count(png: Path) -> int:
    """Distinct colours in the screenshot: charts bring many, plain text few."""
    from PIL import Image

    img = Image.open(png).convert("RGB")
    return len(img.getcolors(maxcolors=1 << 20) or [])
