"""Thin Airflow operators: validate in ``__init__``, do the I/O in ``execute``."""

from __future__ import annotations

from maintenance_ops.operators.base import DatabaseOperator

__all__ = ["DatabaseOperator"]
