"""Content-Security-Policy: every page is sent a strict policy, and no template needs more than it allows.

The browser tests fail on any violation in the console (tests/browser/test_csp.py walks the pages);
this reads every template, so a new page that would need an inline script or style fails here first.
"""

import re
from pathlib import Path

import pytest
from django.template import engines

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*type=\"application/(?:ld\+)?json\")[^>]*>", re.I)
INLINE_STYLE = re.compile(r"<style\b|\sstyle\s*=", re.I)
EVENT_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I)
JAVASCRIPT_URL = re.compile(r"""(?:href|src|action)\s*=\s*["']?\s*javascript:""", re.I)


def studio_templates() -> list[Path]:
    folders = [Path(d) for d in engines["django"].engine.dirs]
    folders += [path for path in ROOT.glob("*/templates") if ".venv" not in path.parts]
    return sorted({t for folder in folders for t in folder.rglob("*.html")})


def test_pages_are_sent_a_strict_policy(client):
    policy = client.get("/accounts/login/")["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in policy and "http" not in policy


def test_api_docs_need_no_inline_script(client, owner):
    client.force_login(owner)
    page = client.get("/api/docs/").content.decode()
    assert not INLINE_SCRIPT.search(page) and not INLINE_STYLE.search(page)
    assert client.get("/api/docs/?script=").status_code == 200


@pytest.mark.parametrize(
    "rule", [INLINE_SCRIPT, INLINE_STYLE, EVENT_HANDLER, JAVASCRIPT_URL], ids=lambda r: r.pattern[:20]
)
def test_no_template_needs_inline_script_or_style(rule):
    templates = studio_templates()
    assert len(templates) > 20
    offenders = [
        f"{path.relative_to(ROOT)}:{text[: m.start()].count(chr(10)) + 1}"
        for path in templates
        for text in [path.read_text(encoding="utf-8")]
        for m in rule.finditer(text)
    ]
    assert offenders == [], (
        "The Content-Security-Policy refuses inline scripts, styles and event handlers: move them to "
        "static/js or static/css (a width as data-width, see static/js/studio.js)."
    )
