"""Check that an aet HTML report renders in headless Chromium, its interactive 3-D view included.

Usage: python scripts/check_report.py REPORT.html [--screenshot OUT.png]

Exit status: 0 when the report is fine, 1 when problems were found, 2 when no Chromium is installed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    from aet.pipeline.browser import ChromiumNotFoundError, check_report
except ImportError:  # running from a checkout without an installed aet
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from aet.pipeline.browser import ChromiumNotFoundError, check_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render an aet report in headless Chromium and check it.")
    parser.add_argument("report", type=Path, help="the report.html to check")
    parser.add_argument("--screenshot", type=Path, default=None, help="where to save the page screenshot (PNG)")
    args = parser.parse_args(argv)
    try:
        problems = check_report(args.report, screenshot=args.screenshot)
    except ChromiumNotFoundError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    if problems:
        print(f"FAIL {args.report}: {len(problems)} problem(s): " + "; ".join(problems))
        return 1
    shot = f", screenshot {args.screenshot}" if args.screenshot else ""
    print(
        f"OK {args.report}: renders in headless Chromium, all figures present, the interactive 3-D view drawn, "
        f"no JavaScript or console errors{shot}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
