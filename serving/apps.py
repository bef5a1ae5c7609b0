from django.apps import AppConfig


class ServingConfig(AppConfig):
    name = "serving"
    verbose_name = "Serving"

    def ready(self) -> None:
        from serving import journey

        journey.register()  # the Endpoint step, the project page's endpoints card, the team's weekly summary
