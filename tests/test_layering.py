"""Imports point one way (docs/architecture.md, "Layers"): web → domain → storage → shared;
edge → shared. The domain and storage never import the web layer, storage never imports the
domain, shared imports none of server, edge or provisioning, and the server never imports the
edge. Every ``import`` statement is read from the source (also those inside functions)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("shared", "server", "edge", "provisioning", "campuspass", "qrdecode")

def layer(module: str) -> str:
    """``web`` | ``root`` | ``storage`` | ``domain`` for server modules, else the package."""
    if module.startswith("server.web") or module == "server.app":
        return "web"
    if module == "server.cli":
        return "root"  # the command line's composition root may build anything
    if module.startswith("server.storage"):
        return "storage"
    if module.startswith("server"):
        return "domain"
    return module.split(".")[0]


ALLOWED: dict[str, set[str]] = {
    "shared": {"shared"},
    # the QR decoder adapters, used by the node and by the server's arrival photo
    "qrdecode": {"qrdecode", "shared"},
    "storage": {"storage", "shared"},
    "domain": {"domain", "storage", "shared", "qrdecode"},
    "web": {"web", "domain", "storage", "shared", "qrdecode"},
    "root": {"web", "domain", "storage", "shared", "qrdecode"},
    "edge": {"edge", "shared", "qrdecode"},
}


def imports() -> list[tuple[str, str]]:
    """``(importing module, imported module)`` for every import between our packages."""
    out = []
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            module = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = []
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                # ``campuspass`` itself holds only the version string: anyone may read it
                out.extend((module, n) for n in names if n.split(".")[0] in PACKAGES and n != "campuspass")
    return out


def test_the_scan_finds_the_imports() -> None:
    found = imports()
    assert ("server.web.errors", "server.errors") in found
    assert ("server.workflow.applications", "server.pass_status") in found
    assert len(found) > 300


def test_imports_point_one_way() -> None:
    wrong = sorted((m, i) for m, i in imports()
                   if layer(m) in ALLOWED and layer(i) not in ALLOWED[layer(m)])
    assert wrong == []


def test_the_rule_refuses_what_it_must() -> None:
    # the table itself: a domain module importing the web, storage importing the domain, shared
    # importing the server and the server importing the edge are each refused
    for m, i in (("server.pass_status", "server.web.errors"), ("server.storage.people", "server.scope"),
                 ("shared.clock", "server.config"), ("server.sync", "edge.store"),
                 ("edge.node", "server.passes")):
        assert layer(i) not in ALLOWED[layer(m)], (m, i)


WEB = REPO / "server" / "web"


def _handlers(tree: ast.Module) -> dict[str, str]:
    """``{function name: "api" | "page"}`` of the route handlers a web module declares."""
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for deco in node.decorator_list:
                if (isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute)
                        and deco.func.attr in ("api", "page")):
                    found[node.name] = deco.func.attr
    return found


def _web_modules() -> dict[str, ast.Module]:
    return {".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"):
            ast.parse(p.read_text(encoding="utf-8")) for p in WEB.rglob("*.py")}


def test_no_page_handler_calls_an_api_handler() -> None:
    # pages and the API of a resource share its data functions; a page never goes through an API
    # handler (its JSON, its error envelope)
    modules = _web_modules()
    api = {name for tree in modules.values() for name, kind in _handlers(tree).items() if kind == "api"}
    wrong = []
    for module, tree in modules.items():
        pages = {name for name, kind in _handlers(tree).items() if kind == "page"}
        web_aliases = {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                       and node.module == "server.web" for a in node.names}
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in pages:
                for call in ast.walk(node):
                    if isinstance(call, ast.Call):
                        f = call.func  # a function of this module, or of a web module by its name
                        name = f.id if isinstance(f, ast.Name) else f.attr if (
                            isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)
                            and f.value.id in web_aliases) else ""
                        if name in api:
                            wrong.append((module, node.name, name))
    assert len(api) > 30
    assert wrong == []


def test_no_page_module_imports_an_api_module() -> None:
    # a module serving pages computes its data itself (or through the domain); it never reaches
    # into a module that only answers JSON
    modules = _web_modules()
    kinds = {m: set(_handlers(tree).values()) for m, tree in modules.items()}
    api_only = {m for m, k in kinds.items() if k == {"api"}}
    wrong = []
    for module, tree in modules.items():
        if "page" not in kinds[module]:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                named = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                wrong += [(module, n) for n in named if n in api_only]
    assert wrong == []
