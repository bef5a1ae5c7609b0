"""On SQLite (the embedded default), a transaction that reads before it writes is not failed by another
process's write in between: it holds the write lock from its start and the other writer waits."""

import threading
import time

import pytest
from django.db import connection, connections, transaction

from projects.models import Team


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the lock behaviour under test is SQLite's")
@pytest.mark.django_db(transaction=True)
def test_a_transaction_that_read_first_still_commits_after_another_connection_wrote():
    team = Team.objects.create(name="Support", slug="support")
    read_done, other_finished = threading.Event(), threading.Event()
    outcome = {}

    def other_connection_writes():
        read_done.wait(timeout=10)
        try:
            Team.objects.filter(pk=team.pk).update(name="Support (renamed)")  # a heartbeat, say
            outcome["other"] = "written"
        except Exception as error:  # pragma: no cover - reported by the assertion below
            outcome["other"] = repr(error)
        finally:
            connections.close_all()
            other_finished.set()

    thread = threading.Thread(target=other_connection_writes)
    thread.start()
    with transaction.atomic():
        assert Team.objects.filter(slug="support").exists()  # the transaction reads first…
        read_done.set()
        time.sleep(0.3)  # …another connection tries to write meanwhile…
        Team.objects.create(name="Legal", slug="legal")  # …and this write still succeeds
    thread.join(timeout=30)
    assert other_finished.is_set() and outcome["other"] == "written"
    assert Team.objects.get(pk=team.pk).name == "Support (renamed)"
    assert Team.objects.filter(slug="legal").exists()
