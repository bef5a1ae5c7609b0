from projects.choices import Role
from projects.current_team import resolve_current_team
from projects.roles import role_in


def current_team(request):
    """The team switcher's data: the current team, the teams to switch to, and the user's role."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    team, teams = resolve_current_team(request)
    role = role_in(user, team) if team else None
    return {
        "current_team": team,
        "user_teams": teams,
        "current_role": role,
        "current_role_label": Role(role).label if role else ("Governance reviewer" if team else ""),
    }
