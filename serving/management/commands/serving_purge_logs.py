"""Apply the request log's retention: run it daily (cron, or the `serving.tasks.request_logs_purge` task)."""

from django.core.management.base import BaseCommand

from serving.services import request_logs_purge


class Command(BaseCommand):
    help = "Delete request logs older than STUDIO_SERVING_LOG_RETENTION_DAYS (or --days)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--days", type=int, default=None, help="Retention in days (default: the setting)."
        )

    def handle(self, *args, days=None, **options):
        deleted = request_logs_purge(older_than_days=days)
        self.stdout.write(f"Deleted {deleted} request log rows past retention.")
