"""Which team the browser is working in: remembered in the session, always one the user can see."""

from projects.selectors import team_list

SESSION_KEY = "current_team_slug"


def resolve_current_team(request):
    if hasattr(request, "_studio_current_team"):
        return request._studio_current_team
    teams = list(team_list(user=request.user))
    slug = request.session.get(SESSION_KEY)
    team = next((t for t in teams if t.slug == slug), teams[0] if teams else None)
    request._studio_current_team = (team, teams)
    return team, teams


def set_current_team(request, team) -> None:
    request.session[SESSION_KEY] = team.slug
    if hasattr(request, "_studio_current_team"):
        del request._studio_current_team
