"""Serving's part of the project journey (`projects.journey`): the Endpoint step, the project page's
endpoints card and the team home's weekly serving summary. Registered in `ServingConfig.ready()`."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse

from projects.journey import JourneyFacts, JourneyStep, ProjectPanel, StepAction, StepState, TeamPanel
from projects.roles import Action, can
from serving import charts, metrics, selectors


def _serving(facts: JourneyFacts) -> dict:
    if "serving" not in facts.extra:
        endpoints = list(selectors.endpoint_list(user=facts.user, project=facts.project))
        pending = selectors.review_pending_counts(endpoints)
        for endpoint in endpoints:
            endpoint.pending_reviews = pending.get(endpoint.pk, 0)
        facts.extra["serving"] = {
            "endpoints": endpoints,
            "production": selectors.production_version(facts.project),
        }
    return facts.extra["serving"]


def publish_url(project) -> str:
    return f"{reverse('serving:endpoint_create')}?{urlencode({'project': project.pk})}"


def _endpoint_state(facts: JourneyFacts) -> StepState:
    """Done once the project is published; publishable once it has a production version."""
    serving = _serving(facts)
    endpoints, production = serving["endpoints"], serving["production"]
    if endpoints:
        endpoint = endpoints[0]
        detail = (
            f"{endpoint.slug} serves v{production.number}"
            if production
            else f"{endpoint.slug} (no production version)"
        )
        return StepState(
            done=True,
            detail=detail,
            action=StepAction("Open the endpoint", reverse("serving:endpoint_detail", args=[endpoint.slug])),
        )
    if production is None:
        return StepState(done=False, detail="Needs a model version in production")
    state = StepState(done=False, detail=f"v{production.number} is in production, not yet published")
    if facts.can(Action.PUBLISH_ENDPOINTS):
        state.action = StepAction("Publish an endpoint", publish_url(facts.project))
    return state


def _panel_context(facts: JourneyFacts) -> dict | None:
    serving = _serving(facts)
    if not serving["endpoints"] and serving["production"] is None:
        return None
    return {
        "project": facts.project,
        "endpoints": serving["endpoints"],
        "can_publish": facts.can(Action.PUBLISH_ENDPOINTS) and serving["production"] is not None,
        "publish_url": publish_url(facts.project),
    }


def _team_summary(user, team) -> dict | None:
    """The team's weekly serving trajectories (cost, escalations, adoption); hidden without endpoints."""
    endpoints = list(selectors.endpoint_list(user=user, team=team))
    if not endpoints:
        return None
    weeks = metrics.team_weekly_summary(endpoints)
    currency = settings.STUDIO_SERVING_COST_CURRENCY
    return {
        "weeks": weeks,
        "this_week": weeks[-1],
        "last_week": weeks[-2] if len(weeks) > 1 else None,
        "endpoint_count": len(endpoints),
        "currency": currency,
        "figure": charts.weekly_figure(weeks, currency),
        "can_publish": can(user, team, Action.PUBLISH_ENDPOINTS),
    }


def register() -> None:
    from projects.journey import register_panel, register_step, register_team_panel

    register_step(
        JourneyStep(
            key="endpoint",
            label="Endpoint",
            text="An API that serves the approved model.",
            order=70,
            state=_endpoint_state,
        )
    )
    register_panel(
        ProjectPanel(
            key="serving",
            order=30,
            template="serving/includes/project_endpoints_panel.html",
            context=_panel_context,
        )
    )
    register_team_panel(
        TeamPanel(
            key="serving-weekly",
            order=10,
            template="serving/includes/team_weekly_summary.html",
            context=_team_summary,
        )
    )
