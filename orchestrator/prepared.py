"""A cursor for the few hot statements that run as server-side prepared statements.

Django's own cursors bind parameters client-side and never prepare. The audit append and the
next-task claim instead use psycopg's `execute(..., prepare=True)`: parsed and planned once per
connection (settings enable it; see DATABASES). Errors still surface as Django's database errors.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.db import connection


@contextmanager
def prepared_cursor() -> Iterator[psycopg.Cursor]:
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        yield cursor
