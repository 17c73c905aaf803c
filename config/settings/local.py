"""Settings for `make run` on a developer's or operator's own machine."""
from .base import *
from .base import env

# Off unless a developer asks with DJANGO_DEBUG=1: with it on, an unknown address shows Django's
# debug page (every URL pattern, settings) instead of the suite's 404 page, and a server error
# its traceback, to whoever opens the page.
DEBUG = env.bool("DJANGO_DEBUG", default=False)

# Serve static files straight from static/ (no collectstatic) under runserver and gunicorn:
# WhiteNoise finds them through the staticfiles finders, with or without DEBUG.
WHITENOISE_USE_FINDERS = True
