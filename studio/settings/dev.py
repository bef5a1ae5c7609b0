"""Developer profile (`make dev`): the embedded default with Django's debug pages and auto-reload.

Never for users: a debug page shows URL patterns, settings and source code.
"""

from .local import *  # noqa: F403

DEBUG = True
