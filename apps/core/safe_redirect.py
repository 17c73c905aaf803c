"""Where a form goes back to: the `next` it was given when that stays on this site, else a default.

Every view that reads a return address from the request goes through here, so that a crafted link
(`?next=https://evil.example/`, `//evil.example`, `/\\evil.example`, `javascript:...`) cannot send a
signed-in operator to another site after a click.
"""
from __future__ import annotations

from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme

NEXT_FIELD = "next"


def safe_next_url(request: HttpRequest, default: str, *args, field: str = NEXT_FIELD, **kwargs) -> str:
    """The request's `next` (POST, then query string) when it is a same-site URL; otherwise
    `default`, a URL or a view name resolved with `args` / `kwargs`. An https page never hands
    over to plain http."""
    wanted = (request.POST.get(field) or request.GET.get(field) or "").strip()
    if wanted and url_has_allowed_host_and_scheme(wanted, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return wanted
    return resolve_url(default, *args, **kwargs)


def redirect_next(request: HttpRequest, default: str, *args, field: str = NEXT_FIELD, **kwargs) -> HttpResponseRedirect:
    """Redirect to `safe_next_url(...)`."""
    return HttpResponseRedirect(safe_next_url(request, default, *args, field=field, **kwargs))
