"""campuspass central server: aiohttp app, aiosqlite storage, JSON API and HTML pages."""
