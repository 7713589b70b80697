"""campuspass shared core: pass format, signatures, trust, the door decision, clock and errors.

Pure Python: no asyncio, sockets, SQLite, hardware or reading of the real clock outside
:class:`shared.clock.SystemClock`. The server and the door node import the same code.
"""
