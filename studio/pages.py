"""A page for a section whose capability arrives in a later release: it says so plainly."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render


def upcoming_section(title: str, text: str):
    @login_required
    def view(request):
        return render(request, "studio/upcoming.html", {"section_title": title, "section_text": text})

    return view
