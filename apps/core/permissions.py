"""DRF permission classes mirroring the roles."""
from rest_framework.permissions import BasePermission

from .roles import is_admin, is_operator


class IsOperator(BasePermission):
    message = "This endpoint is for operators and admins."

    def has_permission(self, request, view) -> bool:
        return is_operator(request.user)


class IsAdmin(BasePermission):
    message = "This endpoint is for admins."

    def has_permission(self, request, view) -> bool:
        return is_admin(request.user)
