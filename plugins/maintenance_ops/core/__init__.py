"""The core: configuration, sessions and the one execution layer, identifiers and SQL files,
processes and credentials, server identity, audit, throttle and preflight. Imports nothing
above it.
"""
