"""Upkeep: index analysis, statistics, cleanup, fragmentation and rebuilds, integrity,
histograms, performance and capacity. Imports the core and observe (history, alerts).
"""
