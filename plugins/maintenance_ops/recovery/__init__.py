"""Recovery: backups, restores, point-in-time recovery, binary logs, replication, the drill and
the runbooks' shared parts. Imports the core and observe (alerts).
"""
