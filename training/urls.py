from django.urls import path

from studio.pages import upcoming_section

app_name = "training"

urlpatterns = [
    path("jobs/", upcoming_section("Training jobs", "Fine-tuning jobs appear here."), name="job_list"),
    path("models/", upcoming_section("Models", "Model versions appear here."), name="model_list"),
]
