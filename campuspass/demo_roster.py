"""A synthetic demo roster: a few departments, ~200 students, counsellors, staff, a school admin.

Names are made up from common surnames and given-name characters; numbers and ID digits come
from a seeded generator, so every demo run has the same accounts.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉玲建林峰云飞宇浩然子涵欣怡梓轩思雨晨阳佳琪"

DEPARTMENTS = [
    ("CS", "计算机学院"),
    ("MATH", "数学学院"),
    ("MED", "医学院"),
    ("LAW", "法学院"),
]


@dataclass(frozen=True)
class DemoAccount:
    """One account shown to the demo user: number, role, name, department, initial password."""

    number: str
    role: str
    name: str
    department: str
    initial_password: str


def _name(rng: random.Random) -> str:
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
    return rng.choice(SURNAMES) + given


def _id_last6(rng: random.Random) -> str:
    tail = rng.choice("0123456789" * 10 + "X")
    return f"{rng.randrange(100000):05d}"[:5] + tail


def demo_roster(students_per_department: int = 50, seed: int = 2026) -> tuple[str, list[DemoAccount]]:
    """``(csv_text, accounts)``: the roster CSV (UTF-8 text, header row) and every account in it.

    Per department: one counsellor (``T<dept>01``), ``students_per_department`` students
    (``2026<dept-index><nnn>``) in two classes; plus one school admin (``A0001``, listed in the
    accounts but not in the CSV: the demo set-up creates it as the command line would) and a
    staff member per department.
    """
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["number", "name", "id_last6", "department_code", "department_name", "role", "phone", "class"])
    accounts: list[DemoAccount] = []

    def add(number: str, role: str, dept: tuple[str, str], klass: str = "") -> None:
        name = _name(rng)
        last6 = _id_last6(rng)
        if role != "school_admin":  # admin roles are never granted by a roster (command line only)
            writer.writerow([number, name, last6, dept[0], dept[1], role, "", klass])
        accounts.append(DemoAccount(number, role, name, dept[0], last6))

    for i, dept in enumerate(DEPARTMENTS, start=1):
        add(f"T{dept[0]}01", "counsellor", dept)
        add(f"S{dept[0]}01", "staff", dept)
        for n in range(students_per_department):
            add(f"2026{i:02d}{n + 1:03d}", "student", dept, f"{dept[0]}-{2026}-{n % 2 + 1}")
    add("A0001", "school_admin", DEPARTMENTS[0])
    return out.getvalue(), accounts
