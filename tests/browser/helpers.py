"""What the browser journeys share: a tiny base model as the catalog's default, screenshots of each step,
and the accessibility basics checked on every page a journey visits."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from playwright.sync_api import Page

ARTIFACTS_DIR = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"


def register_tiny_base_model(folder: Path):
    """A tiny random Llama as the catalog's only active base model (the bundled SmolLM2 sits out): fast to
    train, evaluate and serve, and every score it earns is low by design."""
    from training.models import BaseModel

    BaseModel.objects.update(is_default=False, is_active=False)
    return BaseModel.objects.create(
        key="tiny-llama",
        name="Tiny Llama (tests)",
        source_type="local_folder",
        source=str(folder),
        architecture="LlamaForCausalLM",
        is_default=True,
    )


class Screens:
    """A screenshot per step, kept as test artifacts under ``var/test-artifacts/<name>/`` (or in the folder
    STUDIO_SCREENSHOTS names: the README's screenshots come from there)."""

    def __init__(self, page: Page, name: str):
        self.page = page
        folder = os.environ.get("STUDIO_SCREENSHOTS")
        self.folder = Path(folder) if folder else ARTIFACTS_DIR / name
        self.folder.mkdir(parents=True, exist_ok=True)
        self.prefix = f"{name}-"
        self.started = time.monotonic()

    def __call__(self, step: str, page: Page | None = None, *, top: bool = True) -> None:
        page = page or self.page
        if top:  # the page as it opens (its heading in view), not wherever the last click scrolled it
            page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(self.folder / f"{self.prefix}{step}.png"), full_page=False)
        print(f"{self.prefix}{step} at {time.monotonic() - self.started:.1f} s")  # where the time goes (-s)


def focus_is_visible(page: Page, selector: str) -> bool:
    """Whether the element (or, for a visually hidden input, its drop zone) draws a focus ring."""
    return page.evaluate(
        """(selector) => {
          const el = document.querySelector(selector);
          el.focus();
          const ring = (node) => {
            const style = getComputedStyle(node);
            const outline = style.outlineStyle !== "none" && style.outlineWidth !== "0px";
            return outline || style.boxShadow !== "none";
          };
          // A visually hidden input shows its focus on the drop zone around it, or nowhere.
          return el.classList.contains("visually-hidden") ? ring(el.closest(".studio-dropzone")) : ring(el);
        }""",
        selector,
    )


# Run in the page: what a keyboard or screen-reader user would miss on it.
_AUDIT = """() => {
  const named = (el) => (el.labels && el.labels.length && [...el.labels].some((l) => l.textContent.trim()))
      || (el.getAttribute("aria-label") || "").trim()
      || (el.getAttribute("aria-labelledby") || "").split(/\\s+/).some((id) => {
           const ref = id && document.getElementById(id);
           return ref && ref.textContent.trim();
         })
      || (el.getAttribute("title") || "").trim();
  const describe = (el) => `<${el.tagName.toLowerCase()}${el.id ? " id=" + el.id : ""}`
      + `${el.name ? " name=" + el.name : ""}> ${(el.textContent || "").trim().slice(0, 40)}`;
  const fields = [...document.querySelectorAll("input, select, textarea")].filter(
      (el) => !["hidden", "submit", "button", "reset", "image"].includes(el.type)
        && !el.closest("[hidden], template"));
  const unlabelled = fields.filter((el) => !named(el)).map(describe);

  // Keyboard focus: every control on the page (navigation bar included) draws a ring when focused from
  // the keyboard.
  const ring = (node) => {
    const style = getComputedStyle(node);
    return (style.outlineStyle !== "none" && style.outlineWidth !== "0px") || style.boxShadow !== "none";
  };
  const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  const kinds = ["a[href]", "button", "input:not([type=hidden])", "select", "textarea"];
  const controls = [...document.querySelectorAll(kinds.join(", "))].filter(visible);
  const noRing = [];
  let focused = 0;
  for (const el of controls) {
    el.focus();
    if (document.activeElement !== el) continue;  // disabled or not focusable
    focused += 1;
    const target = el.classList.contains("visually-hidden") ? el.closest(".studio-dropzone") : el;
    if (!(target && ring(target))) noRing.push(describe(el));
  }
  if (document.activeElement) document.activeElement.blur();

  // Charts: each has its numbers as a table view beside it.
  const charts = [...document.querySelectorAll(".studio-chart")];
  const tableless = charts.filter((chart) => {
    let node = chart.nextElementSibling;
    while (node && !node.classList.contains("studio-chart")) {
      if (node.matches("details.studio-chart-table") || node.querySelector("details.studio-chart-table")) {
        return false;
      }
      node = node.nextElementSibling;
    }
    return true;
  }).map((chart) => chart.id);
  return {unlabelled, noRing, tableless, charts: charts.length, focused};
}"""


class Accessibility:
    """The basics on every page of a journey: each form field has a label, keyboard focus is visible, each
    chart has a table view. ``check(page)`` audits the page as it stands; failures name the page."""

    def __init__(self):
        self.pages: list[str] = []
        self.problems: list[str] = []
        self.charts = 0
        self.focused = 0  # controls whose keyboard focus was checked, over all pages

    def check(self, page: Page) -> None:
        page.wait_for_load_state("load")
        # A key press first: browsers draw :focus-visible rings for focus that follows keyboard use (as a
        # keyboard user's would), not after a mouse click.
        page.keyboard.press("Tab")
        found = page.evaluate(_AUDIT)
        where = re.sub(r"^https?://[^/]+", "", page.url)
        self.pages.append(where)
        self.charts += found["charts"]
        self.focused += found["focused"]
        for kind, message in (
            ("unlabelled", "form field without a label"),
            ("noRing", "no visible keyboard focus"),
            ("tableless", "chart without a table view"),
        ):
            self.problems += [f"{where}: {message}: {item}" for item in found[kind]]

    def assert_clean(self) -> None:
        assert not self.problems, "\n".join(self.problems)
