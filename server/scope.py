"""The department-scope rule: a counsellor sees only their own departments (docs/architecture.md,
"Privacy").

One rule, used by the workflow (review queues, approvals), arrivals, reminders, exports, the
scan log and the web layer (which calls it, never the reverse):

======================  ==============================================
viewer role             departments whose people the viewer may see
======================  ==============================================
school_admin            all (``None``)
system_admin            all (``None``; the pages keep health data from them)
counsellor              ``person.departments`` (from the roster)
student, staff          none (``()``): only themselves
======================  ==============================================

A refusal is :class:`OutOfScope` (code ``department_scope``) and reads the same whether the
person exists or not, so no name or existence leaks across departments.
"""

from __future__ import annotations

from server.errors import Forbidden
from server.storage.people import Person

ALL_DEPARTMENTS_ROLES = ("school_admin", "system_admin")


class OutOfScope(Forbidden):
    """The person, department or application is outside the viewer's departments (category
    forbidden). Code ``department_scope``."""

    code = "department_scope"


def visible_departments(person: Person) -> tuple[str, ...] | None:
    """Departments whose people ``person`` may see: None means all (admins); a counsellor sees
    their own departments; anyone else none (only themselves)."""
    if person.role in ALL_DEPARTMENTS_ROLES:
        return None
    if person.role == "counsellor":
        return person.departments
    return ()


def in_scope(viewer: Person, department: str | None) -> bool:
    """True when ``viewer`` may see people (or applications) of ``department``."""
    scope = visible_departments(viewer)
    return scope is None or (department is not None and department in scope)


def can_see_person(viewer: Person, target: Person) -> bool:
    """True when ``viewer`` may see ``target``'s data: themselves, an admin, or a counsellor of
    ``target``'s department."""
    return viewer.id == target.id or in_scope(viewer, target.department)


def require_department(viewer: Person, department: str) -> None:
    """Raises OutOfScope (``department_scope``) unless ``viewer`` may see ``department``."""
    if not in_scope(viewer, department):
        raise OutOfScope(f"department {department} is not one of yours")


def require_person_access(viewer: Person, target: Person | None) -> Person:
    """``target`` if ``viewer`` may see it.

    Raises:
        OutOfScope: ``department_scope`` (the same answer whether the person exists or not, so
            names never leak across departments).
    """
    if target is None or not can_see_person(viewer, target):
        raise OutOfScope("no such person in your departments")
    return target
