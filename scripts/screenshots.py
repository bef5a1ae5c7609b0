"""Sign in to a running studio and save full-page PNGs of some pages (the README's screenshots).

    STUDIO_PASSWORD=... .venv/bin/python scripts/screenshots.py --url http://127.0.0.1:8000 --username ada \
        /projects/ /jobs/ approvals=/approvals/

Each path is saved as docs/screenshots/<name>.png, where the name comes from the path
(`/jobs/?status=running` -> `jobs-status-running.png`) or is given as `name=/path/`. Uses Debian's Chromium at
/usr/bin/chromium (override with --chromium); never downloads a browser.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from urllib.parse import urljoin

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEFAULT_PATHS = ["/projects/", "/jobs/", "/models/", "/approvals/", "/endpoints/", "/team/"]


def screenshot_name(spec: str) -> tuple[str, str]:
    """`name=/path/` or `/path/` -> (name, path)."""
    if "=" in spec and not spec.startswith("/"):
        name, path = spec.split("=", 1)
        return name, path
    slug = re.sub(r"[^a-z0-9]+", "-", spec.lower()).strip("-") or "home"
    return slug, spec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=DEFAULT_PATHS, help="paths, or name=/path/ pairs")
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="base URL of the running studio")
    parser.add_argument("--username", required=True)
    parser.add_argument(
        "--password",
        default=os.environ.get("STUDIO_PASSWORD"),
        help="or set STUDIO_PASSWORD, which keeps it out of the process list",
    )
    parser.add_argument("--login-path", default="/accounts/login/")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--width", type=int, default=1360)
    parser.add_argument("--height", type=int, default=860)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    if not args.password:
        parser.error("give --password or set STUDIO_PASSWORD")

    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport={"width": args.width, "height": args.height}, device_scale_factor=1
        )
        page = context.new_page()
        page.goto(urljoin(args.url, args.login_path))
        page.get_by_label("Username").fill(args.username)
        page.get_by_label("Password").fill(args.password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state("networkidle")
        if args.login_path in page.url:
            print("sign-in failed: still on the login page", file=sys.stderr)
            return 1

        for spec in args.paths:
            name, path = screenshot_name(spec)
            response = page.goto(urljoin(args.url, path))
            page.wait_for_load_state("networkidle")
            # Charts draw asynchronously once plotly.min.js has loaded.
            page.evaluate("() => window.StudioCharts ? window.StudioCharts.ready : null")
            target = args.out / f"{name}.png"
            page.screenshot(path=str(target), full_page=True)
            status = response.status if response else "?"
            print(f"{status} {path} -> {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
