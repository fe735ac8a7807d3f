"""Check that an HTML report renders in headless Chromium: a non-blank screenshot, every figure, the interactive 3-D
view drawn, no console errors."""

from __future__ import annotations

import base64
import binascii
import html
import io
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Seconds allowed for one Chromium run.
TIMEOUT_S = 120
#: Pixel standard deviation (pixels scaled to [0, 1]) below which a screenshot counts as blank.
BLANK_STD = 0.01
#: Virtual time (ms) Chromium gives the page's scripts before it takes the screenshot or dumps the DOM.
VIRTUAL_TIME_BUDGET_MS = 5000

_IMG_RE = re.compile(r"<img\b[^>]*\bsrc=\"data:image/png;base64,([A-Za-z0-9+/=\s]*)\"[^>]*>", re.IGNORECASE)
_FIGURE_RE = re.compile(r"<figure\b", re.IGNORECASE)
_ANY_IMG_RE = re.compile(r"<img\b", re.IGNORECASE)
_SCRIPT_SRC_RE = re.compile(r"<script\b[^>]*\bsrc\s*=", re.IGNORECASE)
_VIEWER_RE = re.compile(r"<canvas\b[^>]*\bid=\"aet-viewer\"", re.IGNORECASE)
_READY_RE = re.compile(r"<body\b[^>]*\bdata-viewer=\"ready\"", re.IGNORECASE)
_ERRORS_RE = re.compile(r"<pre\b[^>]*\bid=\"aet-errors\"[^>]*>(.*?)</pre>", re.IGNORECASE | re.DOTALL)


class ChromiumNotFoundError(RuntimeError):
    """No Chromium (or Chrome) binary on the PATH."""


def find_chromium() -> str | None:
    """Path of the first of ``chromium``, ``chromium-browser``, ``google-chrome`` on the PATH, else ``None``."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def check_report(path: Path, screenshot: Path | None = None) -> list[str]:
    """Render ``path`` in headless Chromium and return the problems found (an empty list when it is fine).

    Checks: the page is self-contained (no ``http(s)://`` references, no ``<script src>``, every ``<img>`` an
    embedded PNG) and carries the interactive 3-D view (``<canvas id="aet-viewer">``); a screenshot (written to
    ``screenshot`` when given, else to a temporary file) exists and is not blank; after the scripts have run
    (:data:`VIRTUAL_TIME_BUDGET_MS` of virtual time) the rendered DOM says the viewer has drawn
    (``<body data-viewer="ready">``) and ``<pre id="aet-errors">``, where the page records uncaught errors, is
    empty; the browser logs no uncaught exception and no console message; the rendered DOM holds at least one
    embedded PNG per ``<figure>`` of the file; and every embedded image decodes as a PNG.

    Raises:
        ChromiumNotFoundError: when no Chromium binary is found.
    """
    path = Path(path).resolve()
    if not path.is_file():
        return [f"{path} does not exist"]
    binary = find_chromium()
    if binary is None:
        raise ChromiumNotFoundError(
            "no Chromium found on the PATH (looked for " + ", ".join(CHROMIUM_NAMES) + "); "
            "install it, e.g. `apt-get install -y chromium` on Debian."
        )
    source = path.read_text(encoding="utf-8", errors="replace")
    problems: list[str] = []
    for scheme in ("http://", "https://"):
        if scheme in source:
            problems.append(f"the report references {scheme} (it must be self-contained)")
    n_figures = len(_FIGURE_RE.findall(source))
    n_images = len(_IMG_RE.findall(source))
    if n_images < n_figures:
        problems.append(f"the file has {n_figures} <figure> elements but only {n_images} embedded PNG images")
    n_other = len(_ANY_IMG_RE.findall(source)) - n_images
    if n_other:
        problems.append(f"{n_other} <img> element(s) are not embedded PNGs (data:image/png;base64)")
    if _SCRIPT_SRC_RE.search(source):
        problems.append("the report loads a script from a file (<script src>; it must be self-contained)")
    has_viewer = bool(_VIEWER_RE.search(source))
    if not has_viewer:
        problems.append('the report has no interactive 3-D view (<canvas id="aet-viewer">)')

    url = path.as_uri()
    with tempfile.TemporaryDirectory(prefix="aet-chromium-") as tmpdir:
        shot = Path(screenshot).resolve() if screenshot is not None else Path(tmpdir) / "screenshot.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        shot.unlink(missing_ok=True)
        profile = Path(tmpdir) / "profile"
        base = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={profile}",
                f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}"]  # fmt: skip

        result = _run(base + ["--hide-scrollbars", f"--screenshot={shot}", "--window-size=1400,3000", url])
        if isinstance(result, str):
            problems.append(f"screenshot: {result}")
        problems += _check_screenshot(shot)

        result = _run(base + ["--enable-logging=stderr", "--v=0", "--dump-dom", url])
        if isinstance(result, str):
            problems.append(f"dump-dom: {result}")
            return problems
        problems += _console_errors(result.stderr)
        dom = result.stdout
        if has_viewer:
            problems += _viewer_problems(dom)
        dom_images = _IMG_RE.findall(dom)
        if len(dom_images) < n_figures:
            problems.append(f"the rendered DOM has {len(dom_images)} embedded PNG images for {n_figures} figures")
        for k, data in enumerate(dom_images):
            problem = _decode_png(data)
            if problem:
                problems.append(f"embedded image {k + 1}: {problem}")
    return problems


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str] | str:
    """Run Chromium; the completed process, or a description of the failure."""
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return f"Chromium did not finish within {TIMEOUT_S} s"
    except OSError as exc:
        return f"Chromium could not be started ({exc})"
    if result.returncode != 0:
        tail = result.stderr.strip().splitlines()[-3:]
        return f"Chromium exited with status {result.returncode}: " + " | ".join(tail)
    return result


def _check_screenshot(shot: Path) -> list[str]:
    if not shot.is_file() or shot.stat().st_size == 0:
        return [f"no screenshot was written to {shot}"]
    import matplotlib.image as mpimg
    import numpy as np

    try:
        pixels = np.asarray(mpimg.imread(shot), dtype=np.float64)
    except (OSError, ValueError, SyntaxError) as exc:
        return [f"the screenshot {shot} is not a readable PNG ({exc})"]
    if pixels.max() > 1.0:
        pixels = pixels / 255.0
    if pixels.ndim == 3:
        pixels = pixels[..., :3]
    std = float(pixels.std())
    if std < BLANK_STD:
        return [f"the screenshot is blank (pixel std {std:.4f} < {BLANK_STD})"]
    return []


def _viewer_problems(dom: str) -> list[str]:
    """What the rendered DOM says is wrong with the interactive 3-D view (an empty list when it drew cleanly)."""
    problems = []
    if not _READY_RE.search(dom):
        problems.append('the interactive 3-D view did not report ready (no <body data-viewer="ready">)')
    errors = _ERRORS_RE.search(dom)
    if errors is None:
        problems.append('the rendered DOM has no <pre id="aet-errors">')
    elif errors.group(1).strip():
        text = " | ".join(html.unescape(errors.group(1)).strip().splitlines())
        problems.append(f"the page recorded JavaScript errors: {text[:500]}")
    return problems


def _console_errors(stderr: str) -> list[str]:
    """Lines of Chromium's log that report an uncaught exception or any console message.

    Chromium logs every ``console.*`` call as ``INFO:CONSOLE`` whatever its level (``console.error`` and
    ``console.log`` alike, and uncaught exceptions as ``"Uncaught ..."``), so the level cannot be told from the
    log. The report's scripts never write to the console, so any console message at all is treated as an error.
    """
    bad = []
    for line in stderr.splitlines():
        if "Uncaught" in line or ":CONSOLE" in line:
            bad.append(f"console error: {line.strip()[:300]}")
    return bad


def _decode_png(data: str) -> str | None:
    """``None`` when ``data`` is base64 of a readable PNG, else what is wrong."""
    try:
        raw = base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        return f"invalid base64 ({exc})"
    if not raw.startswith(PNG_SIGNATURE):
        return "not a PNG (bad signature)"
    import matplotlib.image as mpimg

    try:
        img = mpimg.imread(io.BytesIO(raw), format="png")
    except (OSError, ValueError, SyntaxError) as exc:
        return f"the PNG does not decode ({exc})"
    if img.ndim < 2 or min(img.shape[:2]) == 0:
        return "the PNG is empty"
    return None
