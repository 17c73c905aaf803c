"""The API's pagination: limit/offset with an upper bound on `limit`.

Without one, `?limit=10**20` reaches the database as an out-of-range LIMIT (a server error on
PostgreSQL) or asks for every row at once.
"""
from rest_framework.pagination import LimitOffsetPagination

MAX_PAGE_SIZE = 500


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    max_limit = MAX_PAGE_SIZE  # a larger limit is lowered to this
