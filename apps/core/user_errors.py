"""What a person sees when the domain refuses: one place that translates the refusals of ml_core
and of the services into a message and an HTTP status, so that views need not know their classes.

- `USER_ERRORS`: the refusals every app shares, a tuple for `except`: ml_core's `UserError` (and
  its kinds: `DataError`, `ConfigError`, ..., and the registry's `ModelFilesError`) and the
  registry's `RegistryError`. An app adds its own services' refusals with `refusals(KBError, ...)`.
- `refusal(exc)`: the message and status of one: damaged model files are the server's fault,
  503 "unavailable"; a Django `ValidationError` names its fields; any other refusal is the
  person's to fix, 400 (or the `status` the page uses for it) with its message.
- `flash_refusal(request, exc)`: the refusal as an error message on the next page.
- `or_404(found, what)`: what a selector found, or the 404 page when it found nothing (None).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest

from ml_core.errors import UserError

from .services.model_files import ModelFilesError
from .services.registry import RegistryError

USER_ERRORS: tuple[type[Exception], ...] = (UserError, RegistryError)
UNAVAILABLE = 503
T = TypeVar("T")


def refusals(*app_errors: type[Exception]) -> tuple[type[Exception], ...]:
    """`USER_ERRORS` and an app's own refusals (its services' error classes), for `except`."""
    return (*USER_ERRORS, *app_errors)


@dataclass(frozen=True)
class Refusal:
    message: str
    status: int

    @property
    def unavailable(self) -> bool:
        """The server cannot do it now (not the person's fault)."""
        return self.status == UNAVAILABLE


def _validation_message(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{field.replace('_', ' ')} {', '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return "; ".join(exc.messages)


def refusal(exc: BaseException, *, status: int = 400) -> Refusal:
    """What to show for `exc` and with which status; `status` for a refusal the person can fix."""
    if isinstance(exc, ModelFilesError):
        return Refusal(str(exc), UNAVAILABLE)
    if isinstance(exc, ValidationError):
        return Refusal(_validation_message(exc), status)
    return Refusal(str(exc), status)


def flash_refusal(request: HttpRequest, exc: BaseException, *, prefix: str = "") -> Refusal:
    """Show the refusal as an error message (django.contrib.messages) on the next page."""
    found = refusal(exc)
    messages.error(request, f"{prefix}{found.message}")
    return found


def or_404(found: T | None, what: str) -> T:
    """`found`, or Http404 ("No such <what>") when a selector found nothing."""
    if found is None:
        raise Http404(f"No such {what}")
    return found
