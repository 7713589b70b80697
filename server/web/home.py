"""The home page: the cards of every feature for the logged-in person, in the order the
university's guide gives (check-in 20, return application 30, pass 50), and the site icon."""

from __future__ import annotations

from aiohttp import web

from server.storage.people import People
from server.web import auth, state
from server.web.registry import ANY_USER, PUBLIC, Routes
from server.web.rendering import render

routes = Routes(tag="pages")


def add_home_section(app: web.Application, provider: state.HomeSection, order: int) -> None:
    """Show a feature's card on the home page (call before the app starts).

    ``provider(request)`` returns ``(template, context)`` or None (nothing to show for this
    user); the template is included with ``section`` = context. Cards are shown by ``order``,
    following the university's guide: check-in 20, return application 30, pass 50.
    """
    app.setdefault(state.HOME_SECTIONS, []).append((order, provider))


@routes.page("GET", "/", roles=ANY_USER, summary="home")
async def home(request: web.Request) -> web.StreamResponse:
    sections = []
    providers: list[tuple[int, state.HomeSection]] = request.app.get(state.HOME_SECTIONS) or []
    for _order, provider in sorted(providers, key=lambda item: item[0]):
        section = await provider(request)
        if section is not None:
            sections.append(section)
    user = await auth.current_user(request)
    department_name = None
    if user is not None and user.person.department:
        names = {d.code: d.name for d in await People(request.app[state.SERVICES].db).departments()}
        department_name = names.get(user.person.department)
    return await render(request, "home.html", {"sections": sections, "department_name": department_name})


@routes.page("GET", "/favicon.ico", roles=PUBLIC, summary="the site icon (browsers ask for it on every page)")
async def favicon(request: web.Request) -> web.StreamResponse:
    raise web.HTTPMovedPermanently("/static/favicon.svg")
