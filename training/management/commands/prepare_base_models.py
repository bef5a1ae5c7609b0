"""Queue the conversion of every active base model that is not cached yet (run by `make run`)."""

from django.core.management.base import BaseCommand

from training.models import BaseModel


class Command(BaseCommand):
    help = "Ask a training worker to convert and cache the active base models that are not cached yet."

    def handle(self, *args, **options):
        from training.catalog import default_base_model
        from training.tasks import base_model_prepare

        default_base_model()
        pending = BaseModel.objects.filter(is_active=True, cached_at__isnull=True)
        for model in pending:
            base_model_prepare.delay(model.pk)
            self.stdout.write(f"Queued the one-time conversion of {model.name} (about 15 s on a worker).")
        if not pending:
            self.stdout.write("Every active base model is cached.")
