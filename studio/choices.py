"""Choices that carry their display facts, so every template and script reads them from one place."""

from __future__ import annotations

from django.db import models


class StatusChoices(models.TextChoices):
    """A status with the colour it is shown in: `QUEUED = "queued", "secondary", "Queued"`.

    `tone` is a Bootstrap theme colour (success, danger, warning, primary, secondary, info, light, dark).
    The badge include, progress bars and live scripts all take it from the member, so a status's label
    and colour are stated once, here."""

    def __new__(cls, value: str, tone: str):
        member = str.__new__(cls, value)
        member._value_ = value
        member.tone = tone
        return member

    @classmethod
    def display(cls) -> dict[str, dict[str, str]]:
        """{value: {"label", "tone"}} for scripts (pass it through `json_script`)."""
        return {member.value: {"label": str(member.label), "tone": member.tone} for member in cls}
