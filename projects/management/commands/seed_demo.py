"""Create (idempotently) a demo team with one user per role, and a governance reviewer; point at the
sample dataset shipped for it (docs/examples/support-intents.csv)."""

from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from projects.choices import Role
from projects.models import Membership, Team
from projects.services import governance_reviewer_grant, membership_add, team_create
from studio.tenancy import REVIEWER_GROUP

DEMO_PASSWORD = "studio-demo"
DEMO_TEAM = ("Customer Support", "support")
DEMO_USERS = [
    ("owner", Role.OWNER),
    ("product", Role.PRODUCT_OWNER),
    ("engineer", Role.ML_ENGINEER),
    ("viewer", Role.VIEWER),
]
REVIEWER = "reviewer"
SAMPLE_DATASET = Path(settings.BASE_DIR) / "docs" / "examples" / "support-intents.csv"


class Command(BaseCommand):
    help = "Create the demo team and its users (safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument("--password", default=DEMO_PASSWORD)

    @transaction.atomic
    def handle(self, *args, password: str, **options):
        User = get_user_model()

        def user(username: str):
            account, created = User.objects.get_or_create(
                username=username, defaults={"email": f"{username}@studio.local"}
            )
            if created:
                account.set_password(password)
                account.save()
            return account

        owner = user("owner")
        team = Team.objects.filter(slug=DEMO_TEAM[1]).first() or team_create(
            user=owner,
            name=DEMO_TEAM[0],
            slug=DEMO_TEAM[1],
            description="Demo team: routes customer e-mails.",
        )
        for username, role in DEMO_USERS[1:]:
            member = user(username)
            if not Membership.objects.filter(team=team, user=member).exists():
                membership_add(team=team, user=owner, login=username, role=role)
        reviewer = user(REVIEWER)
        if not reviewer.groups.filter(name=REVIEWER_GROUP).exists():
            governance_reviewer_grant(user=reviewer)

        self.stdout.write(
            self.style.SUCCESS(f"Demo team “{team.name}” is ready. Logins (password: {password}):")
        )
        for username, role in DEMO_USERS:
            self.stdout.write(f"  {username:<10} {Role(role).label}")
        self.stdout.write(f"  {REVIEWER:<10} Governance reviewer (all teams, approvals, admin console)")
        if SAMPLE_DATASET.exists():
            self.stdout.write(
                f"Sample dataset to upload: {SAMPLE_DATASET} (60 support e-mails in 4 intents, a few holding "
                "personal data to redact)."
            )
