"""`manage.py audit_verify [--file export.jsonl|export.csv]`: check the audit log's hash chain."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audit import chain, exports
from audit.selectors import audit_chain_verify


class Command(BaseCommand):
    help = "Verify the audit log's hash chain (or an exported file's) and report the first broken link."

    def add_arguments(self, parser):
        parser.add_argument(
            "--file", type=Path, help="An audit export (.jsonl or .csv) instead of the database."
        )

    def handle(self, *args, file: Path | None = None, **options):
        if file is None:
            verdict, source = audit_chain_verify(), "the audit log"
        else:
            fmt = "csv" if file.suffix.lower() == ".csv" else "jsonl"
            try:
                with file.open(encoding="utf-8", newline="") as handle:
                    verdict = chain.verify(exports.parse(handle, fmt))
            except (OSError, ValueError, KeyError) as error:
                raise CommandError(f"Cannot read {file}: {error}") from error
            source = str(file)
        if not verdict.ok:
            raise CommandError(
                f"{source}: chain broken after {verdict.checked - 1} intact events. "
                f"{verdict.first_break.message}"
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"{source}: {verdict.checked} events, chain intact (head {verdict.head[:16] or '-'})."
            )
        )
