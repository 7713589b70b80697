"""Every audit action is shown in words in both languages, and details are readable: roles and
states as words, instants in Asia/Shanghai time, no raw keys."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from server.storage import Database
from server.storage.audit import ACTIONS, AuditLog
from server.web.catalogue import Catalogue

TEXTS = Catalogue.load()


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_every_action_has_a_text(lang: str) -> None:
    missing = sorted(a for a in ACTIONS if "audit_action." + a not in TEXTS.texts[lang])
    assert missing == []
    assert all(TEXTS.action_text(lang, a) != a for a in ACTIONS)


def test_details_speak_the_language() -> None:
    at_ms = int(datetime(2026, 12, 5, 0, 30, tzinfo=UTC).timestamp() * 1000)
    zh = TEXTS.detail_text("zh-CN", {"number": "2021001", "role": "school_admin", "from_ms": at_ms, "state": "approved",
                               "public_key": "abc_defghijklmnop", "found": True})
    assert zh == "学号：2021001；身份：学校管理员；开始：2026-12-05 08:30；新状态：已通过；公钥：abc_defg…；找到此人：✓"
    en = TEXTS.detail_text("en", {"role": "counsellor", "expires_at_s": at_ms // 1000})
    assert en == "role: counsellor; expires: 2026-12-05 08:30"


async def test_an_action_outside_the_closed_set_is_refused(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "audit.db")
    try:
        with pytest.raises(ValueError, match="not one of"):
            async with db.transaction() as conn:
                await AuditLog.add(conn, at_s=0, actor_id=None, actor_number="x", action="made_up")
        assert await AuditLog(db).recent() == []
    finally:
        await db.close()
