"""A URLconf for the component tests: the studio's own URLs plus one page that uses every shared include."""

from django import forms
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.template import engines
from django.urls import include, path

from studio.choices import StatusChoices
from training.choices import JobStatus

PAGE = """{% extends "base.html" %}
{% block title %}Components{% endblock %}
{% block breadcrumbs %}{% include "includes/breadcrumbs.html" with crumbs=crumbs %}{% endblock %}
{% block heading %}Components{% endblock %}
{% block page_actions %}<a class="btn btn-primary" href="#">New thing</a>{% endblock %}
{% block content %}
  {% include "includes/plotly_chart.html" with figure_json=figure_string chart_id="chart-from-str" %}
  {% include "includes/plotly_chart.html" with figure_json=figure_dict chart_id="chart-from-dict" height=99 %}
  {% for status in statuses %}{% include "includes/status_badge.html" with status=status %}{% endfor %}
  {% include "includes/empty_state.html" with title="No data" action_url="#up" action_label="Upload" %}
  <code id="secret">slm_pat_secret</code>
  <button type="button" class="btn btn-sm btn-outline-secondary" data-copy-target="#secret">Copy</button>
  <input id="token-value" value="slm_pat_input" readonly>
  <button type="button" class="btn btn-sm btn-outline-secondary" data-copy="#token-value">Copy token</button>
  <form method="post" action="{{ request.path }}?posted=1" id="confirm-form">{% csrf_token %}
    <button type="submit" name="action" value="cancel" class="btn btn-outline-danger"
            data-confirm="Cancel this job?" data-confirm-label="Cancel job">Cancel job</button>
  </form>
  <form method="post" action="{{ request.path }}" novalidate>{% csrf_token %}
    {% include "includes/form.html" with form=form %}
    <button type="submit" class="btn btn-primary">Save</button>
  </form>
  {% include "includes/pagination.html" %}
{% endblock %}
"""


class ReviewStatus(StatusChoices):
    """Statuses of a later issue's approvals, to show that any StatusChoices draws its own colours."""

    PENDING = "pending", "warning", "Pending"
    APPROVED = "approved", "success", "Approved"
    REJECTED = "rejected", "danger", "Rejected"


class ComponentForm(forms.Form):
    name = forms.CharField(help_text="A short name.")
    size = forms.ChoiceField(choices=[("s", "Small"), ("m", "Medium")])
    notes = forms.CharField(widget=forms.Textarea, required=False)
    agree = forms.BooleanField(label="I agree")

    def clean(self):
        raise forms.ValidationError("The whole form is wrong.")


def components(request):
    import plotly.graph_objects as go

    figure = go.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2], name="loss"))
    posted = request.method == "POST" and "action" not in request.POST
    form = ComponentForm(request.POST if posted else None)
    if posted:
        form.is_valid()
    template = engines["django"].from_string(PAGE)
    context = {
        "figure_string": figure.to_json(),
        "figure_dict": go.Figure(go.Bar(x=["a", "b"], y=[1, 2])).to_plotly_json(),
        "statuses": [*JobStatus, *ReviewStatus],
        "crumbs": [("Projects", "/projects/"), ("Claims", None)],
        "form": form,
        "page_obj": Paginator(list(range(100)), 10).get_page(request.GET.get("page")),
    }
    return HttpResponse(template.render(context, request))


urlpatterns = [
    path("_components/", components, name="components"),
    path("", include("studio.urls")),
]
