"""The prepared-statement cursor behaves like Django's own: its errors are Django's errors."""

import pytest
from django.db import transaction
from django.db.utils import ProgrammingError

from orchestrator.prepared import prepared_cursor

pytestmark = pytest.mark.django_db


def test_errors_surface_as_django_database_errors():
    with pytest.raises(ProgrammingError, match="no_such_table"), transaction.atomic(), prepared_cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table WHERE id = %(id)s", {"id": 1}, prepare=True)


def test_a_statement_is_prepared_once_and_reused():
    with transaction.atomic(), prepared_cursor() as cursor:
        for value in range(3):
            cursor.execute("SELECT %(v)s::int + 1 AS probe_prepared", {"v": value}, prepare=True)
            assert cursor.fetchone() == (value + 1,)
        cursor.execute(
            "SELECT generic_plans + custom_plans FROM pg_prepared_statements WHERE statement LIKE %(s)s",
            {"s": "%probe_prepared%"},
        )
        assert cursor.fetchall() == [(3,)]
