"""Bulk updates of many rows with different values, in one statement per batch.

Django's `bulk_update` writes `SET col = CASE WHEN pk = 1 THEN ... WHEN pk = 2 THEN ... END` and
builds an expression object for every row and field in Python first: for 500 scored documents
and 8 fields that is about a second of CPU, more than the models take to score them. PostgreSQL
and SQLite (3.33+) both join the table to a VALUES list instead, which costs almost nothing:

    UPDATE t SET a = v.a, b = v.b FROM (VALUES (1, ...), (2, ...)) AS v (id, a, b) WHERE t.id = v.id

Other databases get Django's bulk_update.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connections, router
from django.db.models import Model


def bulk_update_values(model: type[Model], objects: Iterable[Model], fields: Sequence[str], *,
                       batch_size: int = 500) -> int:
    """Write `fields` of each object (by primary key); returns the rows updated."""
    objects = list(objects)
    if not objects:
        return 0
    connection = connections[router.db_for_write(model)]
    sqlite_ok = connection.vendor == "sqlite" and connection.Database.sqlite_version_info >= (3, 33)
    if connection.vendor != "postgresql" and not sqlite_ok:
        return model.objects.bulk_update(objects, fields, batch_size=batch_size)
    meta = model._meta
    columns = [meta.pk] + [meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    if connection.vendor == "postgresql":
        # Typed placeholders: parameters in a VALUES list carry no column type of their own.
        row = "(" + ", ".join(f"%s::{field.cast_db_type(connection)}" for field in columns) + ")"
        alias = "v (" + ", ".join(quote(field.column) for field in columns) + ")"
        source = {field.column: f"v.{quote(field.column)}" for field in columns}
    else:  # SQLite names the columns of a VALUES list column1, column2, ...
        row = "(" + ", ".join("%s" for _ in columns) + ")"
        alias = "v"
        source = {field.column: f"v.column{n + 1}" for n, field in enumerate(columns)}
    assignments = ", ".join(f"{quote(field.column)} = {source[field.column]}" for field in columns[1:])
    updated = 0
    with connection.cursor() as cursor:
        for start in range(0, len(objects), batch_size):
            batch = objects[start : start + batch_size]
            params = [field.get_db_prep_save(getattr(obj, field.attname), connection)
                      for obj in batch for field in columns]
            cursor.execute(
                f"UPDATE {table} SET {assignments} FROM (VALUES {', '.join([row] * len(batch))}) AS {alias} "
                f"WHERE {table}.{quote(meta.pk.column)} = {source[meta.pk.column]}", params)
            updated += cursor.rowcount
    return updated
