"""Team mode: collectors (`callmon serve`) poll each provider account only while they hold its lease in a
Redis-protocol engine, and publish every change there; viewers (`--team`) read the engine and hold no provider
secrets. See docs/team.md.

Nothing here imports the Redis client at import time: the config reads `callmon.team.settings` alone.
"""
