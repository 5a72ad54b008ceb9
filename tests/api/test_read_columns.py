"""The read views are built positionally from their column lists: the orders must agree."""

from __future__ import annotations

from dataclasses import fields

from store import read


def names(view) -> list[str]:
    return [field.name for field in fields(view)]


def test_point_columns_follow_the_point_view() -> None:
    columns = [column.name for column in read._points_with_level().selected_columns]
    assert columns == names(read.PointView)[:-1]  # sensors are added separately


def test_warning_columns_follow_the_warning_view() -> None:
    columns = [column.name for column in read._warnings_at_points(
        read.WarningRow.evidence).selected_columns]
    assert columns == names(read.WarningView)[:-1]  # transitions are added separately


def test_transition_columns_follow_the_transition_view() -> None:
    assert [column.key for column in read._TRANSITION_COLUMNS] == names(read.TransitionView)
