from .roles import is_admin, is_operator


def roles(request) -> dict:
    user = getattr(request, "user", None)
    if user is None:
        return {}
    return {"user_is_operator": is_operator(user), "user_is_admin": is_admin(user)}
