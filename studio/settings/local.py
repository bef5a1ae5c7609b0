"""The embedded default (`make run`): one machine, SQLite and the embedded broker unless the environment
says otherwise, and run like the product: debug pages off, static files served by WhiteNoise.

`studio.settings.dev` (`make dev`) is the developer profile with Django's debug pages.
"""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# WhiteNoise serves the files straight from the static folders: no collectstatic step before `make run`.
WHITENOISE_USE_FINDERS = True
