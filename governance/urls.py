from django.urls import path

from studio.pages import upcoming_section

app_name = "governance"

urlpatterns = [
    path(
        "approvals/",
        upcoming_section(
            "Approvals", "Promotion requests with tiered, four-eyes review will be listed here."
        ),
        name="approval_list",
    ),
]
