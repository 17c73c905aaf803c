"""API keys in the REST API: the authentication class, the permission and the OpenAPI scheme.

A view that other systems may call lists `ApiKeyAuthentication` first (so that a missing or bad
key is a 401 with `WWW-Authenticate: Bearer`) and the session second (operators in a browser):

    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    permission_classes = [IsOperatorOrApiKey(ApiKey.Scope.RECOMMENDATION)]

A key with another scope gets a 403; an unknown or revoked key a 401.
"""
from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission

from .models import ApiKey
from .roles import is_operator
from .services.api_keys import api_key_authenticate


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer <key>` (or `X-Api-Key: <key>`): another system, not a person.

    The request's user stays anonymous; `request.auth` is the ApiKey.
    """

    keyword = b"bearer"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        plain = None
        if header and header[0].lower() == self.keyword:
            if len(header) != 2:
                raise exceptions.AuthenticationFailed("the Authorization header must be 'Bearer <key>'")
            plain = header[1].decode(errors="replace")
        elif request.META.get("HTTP_X_API_KEY"):
            plain = request.META["HTTP_X_API_KEY"]
        if plain is None:
            return None  # no key sent: the next authenticator (the session) decides
        check = api_key_authenticate(plain=plain)
        if check.key is None:
            raise exceptions.AuthenticationFailed(check.problem)
        return AnonymousUser(), check.key

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer",
                "description": "An API key created by an admin (ak_...), sent as `Authorization: Bearer <key>` "
                               "(or `X-Api-Key: <key>`). Each key has scopes: finance, recommendation."}


def request_api_key(request) -> ApiKey | None:
    """The key that authenticated this request, if one did."""
    return request.auth if isinstance(request.auth, ApiKey) else None


class IsOperatorOrApiKey(BasePermission):
    """Operators (session) or a key with `scope`. Built per scope: `IsOperatorOrApiKey("finance")`.

    The instance is callable and returns itself, so it can stand in `permission_classes` (DRF
    calls each entry) as well as be returned from `get_permissions()`.
    """

    def __init__(self, scope: str) -> None:
        if scope not in ApiKey.Scope.values:
            raise ValueError(f"unknown API key scope {scope!r}")
        self.scope = str(scope)
        self.message = (f"Send an API key with the {self.scope!r} scope (Authorization: Bearer <key>) "
                        "or sign in as an operator.")

    def __call__(self) -> IsOperatorOrApiKey:
        return self

    def has_permission(self, request, view) -> bool:
        key = request_api_key(request)
        if key is not None:
            if not key.has_scope(self.scope):
                # Raised rather than returned: the message names the missing scope for this request.
                raise exceptions.PermissionDenied(f"this API key does not have the {self.scope!r} scope")
            return True
        return is_operator(request.user)
