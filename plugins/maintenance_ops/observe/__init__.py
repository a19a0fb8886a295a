"""Observe: the hourly health check, its history, metrics, alerts, reports and status.
Imports only the core.
"""
