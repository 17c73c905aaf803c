"""Settings for `make run` on a developer's or operator's own machine."""
from .base import *  # noqa: F401,F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)

# Serve static files straight from static/ (no collectstatic) under runserver and gunicorn.
WHITENOISE_USE_FINDERS = True
