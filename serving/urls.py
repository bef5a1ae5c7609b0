from django.urls import path

from studio.pages import upcoming_section

app_name = "serving"

urlpatterns = [
    path(
        "endpoints/",
        upcoming_section(
            "Endpoints", "Published, OpenAI-compatible endpoints and their API keys will be listed here."
        ),
        name="endpoint_list",
    ),
]
