import factory
from django.contrib.auth import get_user_model

from projects.choices import Role
from projects.models import Membership, Team


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")

    @factory.post_generation
    def password(user, create, extracted, **kwargs):
        user.set_password(extracted or "pw-for-tests")
        if create:
            user.save(update_fields=["password"])


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    team = factory.SubFactory(TeamFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.VIEWER


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "projects.Project"

    team = factory.SubFactory(TeamFactory)
    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")
    task_type = "classification"
    instructions = "Classify the customer message into one intent."
    owner = factory.SubFactory(UserFactory)


class CharterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "projects.Charter"

    project = factory.SubFactory(ProjectFactory)
    version = factory.Sequence(lambda n: n + 1)
    author = factory.SubFactory(UserFactory)
    problem_statement = "Route support e-mails to the right queue automatically."
    business_metric = "Median time to first response"
    data_classes = ["internal"]
    automation = "human_review"
    confidence_threshold = 0.7
    success_measures = [{"metric": "accuracy", "baseline": 0.6, "target": 0.85, "higher_is_better": True}]


def classification_rows(n_per_label: int = 12, labels=("billing", "shipping", "returns")) -> list[dict]:
    """Distinct, realistic-looking rows: enough per label that no warning but 'too few examples' fires."""
    topics = {
        "billing": "my invoice shows a charge of {n} euros that I do not recognise",
        "shipping": "parcel number {n} has not arrived and tracking stopped",
        "returns": "I want to send back order {n} because it is the wrong size",
    }
    rows = []
    for label in labels:
        template = topics.get(label, label + " request number {n}")
        rows += [
            {"input": f"Hello, {template.format(n=100 + i)}.", "output": label} for i in range(n_per_label)
        ]
    return rows


def jsonl_bytes(rows) -> bytes:
    import json

    return b"".join(json.dumps(row, ensure_ascii=False).encode() + b"\n" for row in rows)
