"""The role matrix: every person against every action, through the API and through the browser's forms.

Rows for every action of `projects.roles.Action` (and for rejecting and withdrawing a promotion): the API
request and the page form a user would send for it. Each person of the team's world sends each row in a
savepoint that is rolled back, so every request meets the same world:

- a person the row allows gets an answer under 400 and something is stored;
- a team member it does not allow gets a refusal (the API's 403 with its code; in the browser the 403
  page or the page again with the reason) and nothing is stored;
- an outsider gets the 404 a missing object gets, and nothing is stored.

Who may do what is stated here (`MAY`), independently of the table the code enforces. The people: the
team's owner, product owner, ML engineer and viewer, the governance reviewer (no team), the owner of
another team, and the product owner who requested the pending promotion (four-eyes: the requester
cannot approve or reject her own request, whatever her role; she is tried on those rows only). The
approvals are also tried in the admin console, where reviewers work, with everyone made staff.

The browser rows submit the form the page renders, as a browser would: its fields with their rendered
values, a few of them changed. The page is read by the team's owner (who sees every form), then sent by
each person.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from html.parser import HTMLParser
from urllib.parse import urljoin

import pytest
from django.db import transaction
from django.test import Client, RequestFactory

from projects.roles import Action
from tests.api_world import World, baseline_body, build_world, operations, stored_state
from tests.test_roles import EXPECTED

pytestmark = pytest.mark.django_db

PEOPLE = ("owner", "product_owner", "ml_engineer", "viewer", "reviewer", "outsider", "requester")
APPROVALS = {Action.APPROVE_ML_TIER, Action.APPROVE_PRODUCT_TIER, Action.APPROVE_GOVERNANCE_TIER}
# What each person may do in the world's team.
MAY: dict[str, set] = {
    **{role: set(actions) for role, actions in EXPECTED.items()},
    "reviewer": {Action.VIEW, Action.APPROVE_GOVERNANCE_TIER},
    "outsider": set(),
    # a product owner, but the pending promotion is hers: she cannot approve it, and she may withdraw it
    "requester": (set(EXPECTED["product_owner"]) - APPROVALS) | {"withdraw_promotion"},
}
MAY["owner"] |= {"withdraw_promotion"}  # a team owner may take back any pending request
# Whoever may give one of the approvals the request needs (tier 3: all three) may reject it instead.
for person in ("owner", "product_owner", "ml_engineer", "reviewer"):
    MAY[person] |= {"reject_promotion"}
FOUR_EYES = re.compile(r"self_approval|You requested this promotion")
# The requester is a product owner everywhere else: she is tried only where the request being hers counts.
REQUESTS = {*APPROVALS, "reject_promotion", "withdraw_promotion"}


def tried(person: str, row) -> bool:
    return person != "requester" or row.action in REQUESTS


@dataclass
class Row:
    """One action: its API request and its browser form (either may be absent)."""

    action: Action | str
    api: tuple[str, str, Callable[[World], dict] | None] | None = None  # method, path, body (None: baseline)
    page: str | None = None  # the page that renders the form
    form: str | None = None  # the form's action (defaults to the page)
    changes: Callable[[World], dict] = field(default=lambda w: {})

    def __str__(self) -> str:
        return str(self.action)


def _approve(role: str) -> dict:
    return {"role": role, "comment": "Looks right."}


ROWS = [
    Row(Action.VIEW, api=("get", "/api/v1/projects/{project}/", lambda w: {}), page="/projects/{project}/"),
    Row(
        Action.MANAGE_TEAM,
        api=(
            "post",
            "/api/v1/members/",
            lambda w: {"team": w.team.slug, "user": w.newcomer.username, "role": "viewer"},
        ),
        page="/teams/{team}/",
        changes=lambda w: {"login": w.newcomer.username, "role": "viewer"},
    ),
    Row(
        Action.MANAGE_TEAM,
        api=("patch", "/api/v1/members/{membership}/", lambda w: {"role": "ml_engineer"}),
        page="/teams/{team}/",
        form="/members/{membership}/role/",
        changes=lambda w: {"role": "ml_engineer"},
    ),
    Row(
        Action.EDIT_PROJECT,
        api=("patch", "/api/v1/projects/{project}/", lambda w: {"description": "Changed"}),
        page="/projects/{project}/edit/",
        changes=lambda w: {"description": "Changed"},
    ),
    Row(
        Action.EDIT_CHARTER,
        api=("post", "/api/v1/charters/", None),
        page="/projects/{project}/charter/edit/",
        changes=lambda w: {
            "problem_statement": "Route support e-mails to the right queue.",
            "change_note": "v2",
        },
    ),
    Row(
        Action.MANAGE_DATASETS,
        api=("patch", "/api/v1/datasets/{dataset}/card/", lambda w: {"purpose": "Changed"}),
        page="/datasets/versions/{dataset_version}/",
        form="/datasets/{dataset}/card/",
        changes=lambda w: {"purpose": "Changed"},
    ),
    Row(
        Action.EDIT_EVAL_SPEC,
        api=("post", "/api/v1/eval-specs/", None),
        page="/projects/{project}/evaluation/specs/new/",
        changes=lambda w: {"note": "A new version"},
    ),
    Row(
        Action.SIGN_EVAL_SPEC,
        api=("post", "/api/v1/eval-specs/{unsigned_spec}/sign/", lambda w: {}),
        page="/eval-specs/{unsigned_spec}/",
        form="/eval-specs/{unsigned_spec}/sign/",
    ),
    Row(
        Action.RUN_JOBS,
        api=("post", "/api/v1/training-jobs/", None),
        page="/jobs/new/?project={project}",
        form="/jobs/new/",
    ),
    Row(
        Action.RUN_JOBS,
        api=("post", "/api/v1/training-jobs/{queued_job}/cancel/", lambda w: {}),
        page="/jobs/{queued_job}/",
        form="/jobs/{queued_job}/cancel/",
    ),
    Row(
        Action.RUN_EVALS,
        api=("post", "/api/v1/eval-runs/", None),
        page="/projects/{project}/evaluation/",
        form="/projects/{project}/evaluation/runs/new/",
    ),
    Row(
        Action.REQUEST_PROMOTION,
        api=(
            "post",
            "/api/v1/promotions/",
            lambda w: {"model_version": w.model_version.pk, "target_stage": "staging"},
        ),
        page="/models/{model_version}/governance/",
        changes=lambda w: {"target_stage": "staging", "reason": "Ready for staging."},
    ),
    Row(
        Action.APPROVE_ML_TIER,
        api=("post", "/api/v1/promotions/{promotion}/approve/", lambda w: _approve("ml_engineer")),
        page="/promotions/{promotion}/",
        form="/promotions/{promotion}/approve/",
        changes=lambda w: _approve("ml_engineer"),
    ),
    Row(
        Action.APPROVE_PRODUCT_TIER,
        api=("post", "/api/v1/promotions/{promotion}/approve/", lambda w: _approve("product_owner")),
        page="/promotions/{promotion}/",
        form="/promotions/{promotion}/approve/",
        changes=lambda w: _approve("product_owner"),
    ),
    Row(
        Action.APPROVE_GOVERNANCE_TIER,
        api=("post", "/api/v1/promotions/{promotion}/approve/", lambda w: _approve("governance_reviewer")),
        page="/promotions/{promotion}/",
        form="/promotions/{promotion}/approve/",
        changes=lambda w: _approve("governance_reviewer"),
    ),
    Row(
        "reject_promotion",
        api=("post", "/api/v1/promotions/{promotion}/reject/", lambda w: {"comment": "Not yet."}),
        page="/promotions/{promotion}/",
        form="/promotions/{promotion}/reject/",
        changes=lambda w: {"comment": "Not yet."},
    ),
    Row(
        Action.REQUEST_PROMOTION,
        api=("post", "/api/v1/promotions/rollback/", None),
        page="/projects/{project}/releases/",
        changes=lambda w: {"reason": "The new version misroutes refunds."},
    ),
    Row(
        "withdraw_promotion",
        api=("post", "/api/v1/promotions/{promotion}/withdraw/", lambda w: {}),
        page="/promotions/{promotion}/",
        form="/promotions/{promotion}/withdraw/",
    ),
    Row(
        Action.MANAGE_ENDPOINTS,
        api=("post", "/api/v1/endpoints/{endpoint}/keys/", lambda w: {"name": "billing-router"}),
        page="/endpoints/{endpoint}/",
        form="/endpoints/{endpoint}/keys/",
        changes=lambda w: {"name": "billing-router"},
    ),
    Row(
        Action.MANAGE_ENDPOINTS,
        api=("post", "/api/v1/api-keys/{api_key}/revoke/", lambda w: {}),
        page="/endpoints/{endpoint}/",
        form="/endpoints/keys/{api_key}/revoke/",
    ),
    Row(
        Action.PUBLISH_ENDPOINTS,
        api=("patch", "/api/v1/endpoints/{endpoint}/", lambda w: {"description": "Changed"}),
        page="/endpoints/{endpoint}/settings/",
        changes=lambda w: {"description": "Changed"},
    ),
    Row(
        Action.REVIEW_ESCALATIONS,
        page="/endpoints/{endpoint}/reviews/",
        form="/endpoints/reviews/{review_item}/confirm/",
    ),
]


def test_the_matrix_has_a_row_for_every_action_over_the_api_and_in_the_browser():
    """A new action fails here until it has its row (escalations are reviewed in the browser only)."""
    assert {row.action for row in ROWS if row.api} >= set(Action) - {Action.REVIEW_ESCALATIONS}
    assert {row.action for row in ROWS if row.page} >= set(Action)


# -- the world and its people --------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    """The team's world and its people, built once for the module in a transaction rolled back after it
    (each test runs in a savepoint inside it, as pytest-django's `db` does)."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            world = _build(tmp_path_factory.mktemp("role-matrix"))
        except BaseException:
            outer.__exit__(None, None, None)
            raise
    yield world
    with django_db_blocker.unblock():
        transaction.set_rollback(True)
        outer.__exit__(None, None, None)


def _build(tmp_path) -> World:
    from conftest import _member, _team
    from evaluation import services as evaluation_services
    from projects.services import governance_reviewer_grant
    from projects.tests.factories import UserFactory
    from tests.test_training_pages import make_job

    team = _team("Support", "support")
    owner = _member(team, "olivia", "owner")
    world = build_world(owner=owner, team=team, tmp_path=tmp_path)
    world.people = {
        "owner": owner,
        "product_owner": _member(team, "pablo", "product_owner"),
        "ml_engineer": _member(team, "mia", "ml_engineer"),
        "viewer": _member(team, "victor", "viewer"),
        "reviewer": governance_reviewer_grant(user=UserFactory(username="rita")),
        "outsider": _member(_team("Legal", "legal"), "oscar", "owner"),
        "requester": world.promotion.requested_by,
    }
    world.queued_job = make_job(world.project, world.version, world.base_model)
    world.unsigned_spec = evaluation_services.eval_spec_create(
        project=world.project, user=owner, document={}, note="Unsigned"
    )
    return world


def ids(world: World) -> dict:
    return {
        "project": world.project.pk,
        "team": world.team.slug,
        "dataset": world.dataset.pk,
        "dataset_version": world.version.pk,
        "unsigned_spec": world.unsigned_spec.pk,
        "model_version": world.model_version.pk,
        "promotion": world.promotion.pk,
        "endpoint": world.endpoint.slug,
        "review_item": world.review_item.pk,
        "membership": world.membership.pk,
        "queued_job": world.queued_job.pk,
        "api_key": world.api_key.pk,
    }


def api_body(method: str, path: str, body, world: World) -> dict:
    if body is not None:
        return body(world)
    [op] = [op for op in operations() if op.method == method and op.path == path]
    return baseline_body(op.body, world)


def verdict(person: str, row: Row, status: int, refusal: str, changed: bool) -> str | None:
    """What is wrong with the answer, or None."""
    if row.action in MAY[person]:
        if row.action == Action.VIEW:
            return None if status == 200 and not changed else f"allowed to read, but answered {status}"
        if status >= 400 or not changed:
            stored = "something" if changed else "nothing"
            return f"allowed, but answered {status} {refusal} and stored {stored}"
        return None
    if changed:
        return f"refused ({status}), but something was stored"
    if (
        person == "requester"
        and row.action in (*APPROVALS, "reject_promotion")
        and not FOUR_EYES.search(refusal)
    ):
        return f"refused ({status} {refusal}), but not as her own request"
    expected = (404,) if person == "outsider" else (403,)
    if status not in expected and not (status in (200, 302) and refusal and person != "outsider"):
        return f"answered {status} {refusal}, not {expected[0]}"
    return None


class Attempts:
    """Sends requests, each in a savepoint rolled back after it, and tells whether each stored anything."""

    def __init__(self):
        self.baseline = stored_state()

    def __call__(self, send) -> tuple[int, str, bool]:
        """The answer's status, the refusal it gives (its code, or the message a page shows) and whether
        anything was stored."""
        with transaction.atomic():
            status, refusal = send()
            changed = stored_state() != self.baseline
            transaction.set_rollback(True)
        if changed:  # the rows are rolled back, but files a request wrote are still there
            self.baseline = stored_state()
        return status, refusal, changed


# -- the API -------------------------------------------------------------------------------------


def test_every_person_against_every_action_over_the_api(world, api):
    api.raise_request_exception = False
    attempt = Attempts()
    wrong = []
    for person in PEOPLE:
        api.force_authenticate(user=world.people[person])
        for row in ROWS:
            if row.api is None or not tried(person, row):
                continue
            method, path, body = row.api
            url = path.format(**ids(world))
            payload = api_body(method, path, body, world)

            problem = verdict(person, row, *attempt(partial(api_send, api, method, url, payload)))
            if problem:
                wrong.append(f"{person} {row} ({method.upper()} {url}): {problem}")
    assert not wrong, "\n".join(wrong)


def api_send(api, method: str, url: str, payload: dict) -> tuple[int, str]:
    answer = getattr(api, method)(url, payload, **({"format": "json"} if method != "get" else {}))
    return answer.status_code, answer.json().get("error", {}).get(
        "code", ""
    ) if answer.status_code >= 400 else ""


# -- the browser ---------------------------------------------------------------------------------


class Forms(HTMLParser):
    """The forms of a page: their action and the values a browser would submit unchanged."""

    def __init__(self):
        super().__init__()
        self.forms: list[tuple[str, list[tuple[str, str]]]] = []
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append((attrs.get("action") or "", []))
        if not self.forms:
            return
        fields = self.forms[-1][1]
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") not in ("submit", "button", "file", "reset"):
            if attrs.get("type") in ("checkbox", "radio") and "checked" not in attrs:
                return
            fields.append((name, attrs.get("value", "on" if attrs.get("type") == "checkbox" else "")))
        elif tag == "select" and name:
            self._select, self._options = name, []
        elif tag == "option" and self._select:
            self._options.append((attrs.get("value", ""), "selected" in attrs))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, ""

    def handle_data(self, data):
        if self._textarea:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "select" and self._select:
            chosen = [value for value, selected in self._options if selected] or [
                value for value, _ in self._options[:1]
            ]
            self.forms[-1][1].extend((self._select, value) for value in chosen)
            self._select = None
        elif tag == "textarea" and self._textarea:
            self.forms[-1][1].append((self._textarea, self._text.removeprefix("\n")))
            self._textarea = None


def rendered_form(browser: Client, page: str, action: str) -> dict:
    """The fields of the form on `page` that posts to `action`, as a browser would send them."""
    answer = browser.get(page)
    assert answer.status_code == 200, f"{page}: {answer.status_code}"
    parser = Forms()
    parser.feed(answer.content.decode())
    for form_action, fields in parser.forms:
        if urljoin(page, form_action or page).split("?")[0] == action:
            data: dict = {}
            for name, value in fields:
                data.setdefault(name, []).append(value)
            return {name: values if len(values) > 1 else values[0] for name, values in data.items()}
    raise AssertionError(f"{page} renders no form posting to {action}")


def test_every_person_against_every_action_in_the_browser(world):
    owner_browser = Client()
    owner_browser.force_login(world.owner)
    forms = {}
    for row in ROWS:
        if row.page is None:
            continue
        page, action = (
            row.page.format(**ids(world)),
            (row.form or row.page).format(**ids(world)).split("?")[0],
        )
        if row.action == Action.VIEW:
            forms[str(row)] = action, {}
        else:
            forms[str(row)] = action, {**rendered_form(owner_browser, page, action), **row.changes(world)}

    browsers = {person: Client(raise_request_exception=False) for person in PEOPLE}
    for person, browser in browsers.items():  # signed in before the baseline: signing in stores a session
        browser.force_login(world.people[person])
    attempt = Attempts()
    wrong = []
    for person, browser in browsers.items():
        for row in ROWS:
            if row.page is None or not tried(person, row):
                continue
            action, data = forms[str(row)]

            problem = verdict(person, row, *attempt(partial(page_send, browser, row, action, data)))
            if problem:
                wrong.append(f"{person} {row} (POST {action}): {problem}")
    assert not wrong, "\n".join(wrong)


def page_send(browser: Client, row: Row, action: str, data: dict) -> tuple[int, str]:
    if row.action == Action.VIEW:
        return browser.get(action).status_code, ""
    answer = browser.post(action, data)
    if answer.status_code == 302:  # the page it redirects to shows why it refused, if it did
        return 302, "; ".join(m.message for m in flashed(browser) if m.level_tag == "error")
    if answer.status_code == 200:
        return 200, _form_errors(answer)
    return answer.status_code, ""


def flashed(browser: Client) -> list:
    """The messages the next page would show (read from the browser's cookie, which is then cleared)."""
    from django.contrib.messages.storage import default_storage

    cookie = browser.cookies.pop("messages", None)
    request = RequestFactory().get("/")
    request.COOKIES = {"messages": cookie.value} if cookie else {}
    request.session = {}
    return list(default_storage(request))


def _form_errors(answer) -> str:
    errors = []
    for key in ("form", "card_form"):
        form = answer.context.get(key) if answer.context else None
        if form is not None and form.errors:
            errors.append(str(dict(form.errors)))
    messages = [m.message for m in answer.context.get("messages", [])] if answer.context else []
    return "; ".join(errors + messages)


# -- the admin console ---------------------------------------------------------------------------

# Approving and rejecting in the admin console (where governance reviewers work), with the approval's
# role left for the studio to choose. Everyone is made staff here: the console must not be a way around
# the roles or the four-eyes rule for anyone who can open it. Its bulk action needs the reviewers'
# permission to list the requests as well. Each row: the URL, the form, who may.
APPROVERS = {"owner", "product_owner", "ml_engineer", "reviewer"}  # each can give a missing approval
ADMIN_ROWS = {
    "approve": (
        "/admin/governance/promotionrequest/{promotion}/approve/",
        lambda w: {"comment": "Fine."},
        APPROVERS,
    ),
    "reject": (
        "/admin/governance/promotionrequest/{promotion}/reject/",
        lambda w: {"comment": "Not yet."},
        APPROVERS,
    ),
    "approve selected": (
        "/admin/governance/promotionrequest/",
        lambda w: {"action": "approve_selected", "_selected_action": [w.promotion.pk]},
        {"reviewer"},
    ),
}


def test_every_person_against_the_approvals_in_the_admin_console(world):
    browsers = {person: Client(raise_request_exception=False) for person in PEOPLE}
    for person, browser in browsers.items():
        user = type(world.people[person]).objects.get(pk=world.people[person].pk)  # the world's stay as built
        user.is_staff = True
        user.save(update_fields=["is_staff"])
        browser.force_login(user)
    attempt = Attempts()
    wrong = []
    for person, browser in browsers.items():
        for what, (path, data, may) in ADMIN_ROWS.items():
            url = path.format(**ids(world))
            status, refusal, changed = attempt(partial(admin_send, browser, url, data(world)))
            if person in may:
                problem = None if status < 400 and changed else f"allowed, but answered {status} {refusal}"
            elif changed:
                problem = f"refused ({status}), but something was stored"
            elif person == "requester" and what != "approve selected" and not FOUR_EYES.search(refusal):
                problem = f"refused ({status} {refusal}), but not as her own request"
            elif person == "outsider" and what != "approve selected" and status != 404:
                problem = f"answered {status}, not 404"
            else:
                problem = None if status in (403, 404) or refusal else f"answered {status}, saying nothing"
            if problem:
                wrong.append(f"{person} {what} (POST {url}): {problem}")
    assert not wrong, "\n".join(wrong)


def admin_send(browser: Client, url: str, data: dict) -> tuple[int, str]:
    answer = browser.post(url, data)
    return answer.status_code, "; ".join(m.message for m in flashed(browser) if m.level_tag == "error")
