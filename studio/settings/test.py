"""Test settings: fast hashing, an isolated data dir, the same database/broker choice as the environment."""

import os
import tempfile

os.environ.setdefault("STUDIO_DATA_DIR", tempfile.mkdtemp(prefix="studio-test-"))

from .base import *  # noqa: F403
from .base import DATA_DIR, DATABASES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEBUG = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so that a real worker process can share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-studio.sqlite3")}
# Throttle counters outlive a test (the cache is not rolled back): the suite's many deliberate 401s must
# not lock 127.0.0.1 out; the throttling tests set a small rate and clear the cache themselves.
STUDIO_FAILED_BEARER_RATE = "100000/minute"
