"""Request and job ids in every log line, and request latency metrics.

`RequestContextMiddleware` gives each request an id (the caller's X-Request-ID when it is
sane, else a new one), returns it in the response, and times the request for Prometheus.
`ContextFilter` copies the current request id and job id into every log record, so the JSON
logs of web and worker processes can be joined on them.
"""
from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
job_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("job_id", default="")
# The request being answered, so services can tell who acts (audit trail) without every
# caller passing the user along.
request_var: contextvars.ContextVar[object | None] = contextvars.ContextVar("request", default=None)

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.job_id = job_id_var.get()
        return True


@contextmanager
def job_context(job_id) -> Iterator[None]:
    token = job_id_var.set(str(job_id))
    try:
        yield
    finally:
        job_id_var.reset(token)


def _route_name(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return match.view_name or match.route or "unnamed"


class RequestContextMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        request_token = request_var.set(request)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
            request_var.reset(request_token)
        response["X-Request-ID"] = request_id
        from .metrics import observe_request

        observe_request(request.method, _route_name(request), response.status_code,
                        time.perf_counter() - started)
        return response
