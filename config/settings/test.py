"""Settings for the test suite: the database DATABASE_URL names (SQLite by default), fast hashing.

Tasks go through kombu's filesystem transport in var/test-broker, so a test that starts a real
worker (tests/conftest.py: `run_worker`) receives what the code under test enqueued; tests of
the Redis broker start their worker on Redis explicitly.
"""
from pathlib import Path

from .base import *
from .base import (
    CELERY_FILESYSTEM_POLLING_INTERVAL,
    DATABASES,
    VAR_DIR,
    env,
    filesystem_broker_options,
)

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

CELERY_BROKER_URL = env("TEST_CELERY_BROKER_URL", default="filesystem://")
CELERY_FILESYSTEM_BROKER_DIR = Path(env("TEST_CELERY_BROKER_DIR", default=str(VAR_DIR / "test-broker")))
CELERY_BROKER_TRANSPORT_OPTIONS = (
    filesystem_broker_options(CELERY_FILESYSTEM_BROKER_DIR, min(CELERY_FILESYSTEM_POLLING_INTERVAL, 0.2))
    if CELERY_BROKER_URL.startswith("filesystem://") else {}
)
ARTIFACTS_ROOT = Path(env("TEST_ARTIFACTS_ROOT", default=str(VAR_DIR / "test-artifacts")))

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory: worker processes and the live server must see the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}

# Serve static files straight from static/ (no collectstatic) under runserver and gunicorn.
WHITENOISE_USE_FINDERS = True

# Every classifier training checks its explanations (ML_FAITHFULNESS_EXAMPLES texts, 50 by
# default); tests of the training plumbing check a few, on tiny models.
ML_FAITHFULNESS_EXAMPLES = env.int("ML_FAITHFULNESS_EXAMPLES", default=6)
