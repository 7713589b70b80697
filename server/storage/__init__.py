"""The storage layer: every SQL statement of the server lives in this package.

:class:`~server.storage.database.Database` owns the aiosqlite connection, the numbered
migrations in ``migrations/`` and the single write path; each noun has a small repository
module (``passes``, ``buildings``, ...) taking the database as its constructor argument.
"""

from server.storage.database import Database, open_database

__all__ = ["Database", "open_database"]
