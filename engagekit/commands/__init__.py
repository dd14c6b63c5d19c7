"""Sub-commands of the ``engagekit`` CLI: each module here defines ``register(subparsers)``.

A module's handlers return an exit code; raising :class:`engagekit.EngagekitError` prints the
message and exits 1.
"""
