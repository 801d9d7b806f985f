"""The memory explorer page served at ``/``.

A plain HTML page with a small script (``static/``, no build step, nothing
fetched from elsewhere). It talks to the ``/v1`` REST API with the API key the
user enters (kept in the tab's ``sessionStorage``, or read from the link's
fragment ``#key=...``), so the page itself needs no authentication and shows
nothing until a key is given. The strict Content-Security-Policy lets the page
load only its own script and stylesheet and talk only to this origin.
"""

from importlib import resources

from hive_middleware.integrations.server.context import ServerContext

from hive_middleware.errors import HiveDependencyError, HiveNotFoundError

try:
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse, Response
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise HiveDependencyError("the HTTP server needs FastAPI: install hive-middleware[server]") from exc

__all__ = ["CONTENT_SECURITY_POLICY", "STATIC_FILES", "install", "load_static"]

# Asset name -> media type: the only files served under /static.
STATIC_FILES: dict[str, str] = {
    "explorer.html": "text/html; charset=utf-8",
    "explorer.js": "text/javascript; charset=utf-8",
    "explorer.css": "text/css; charset=utf-8",
}

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def load_static() -> dict[str, bytes]:
    """Read the explorer's files from the installed package.

    Returns:
        Each name of :data:`STATIC_FILES` mapped to its bytes.

    Raises:
        HiveDependencyError: a file is missing (the package was installed without its data files).
    """
    folder = resources.files("hive_middleware.integrations.server").joinpath("static")
    loaded: dict[str, bytes] = {}
    for name in STATIC_FILES:
        try:
            loaded[name] = folder.joinpath(name).read_bytes()
        except FileNotFoundError as exc:
            raise HiveDependencyError(
                f"the memory explorer's file static/{name} is missing from this installation; "
                "reinstall hive-middleware[server] (its wheel ships integrations/server/static/)",
                path=f"static/{name}",
            ) from exc
    return loaded


def install(app: FastAPI, ctx: ServerContext) -> None:
    """Serve the explorer page at ``/`` and its script and stylesheet under ``/static``.

    Args:
        app: The service's app.
        ctx: The shared server context (unused: the page calls the authenticated API itself).

    Raises:
        HiveDependencyError: the page's files are missing from the installation.
    """
    del ctx  # the page holds no server state; every call it makes goes through /v1 with the user's key
    files = load_static()

    @app.get("/", include_in_schema=False)
    async def explorer_page() -> HTMLResponse:
        """The memory explorer."""
        return HTMLResponse(files["explorer.html"], headers=_HEADERS)

    @app.get("/static/{name}", include_in_schema=False)
    async def explorer_asset(name: str) -> Response:
        """One of the explorer's files."""
        media_type = STATIC_FILES.get(name)
        if media_type is None:
            raise HiveNotFoundError(
                f"no static file {name!r}; the explorer serves {', '.join(sorted(STATIC_FILES))}", path=name
            )
        return Response(files[name], media_type=media_type, headers=_HEADERS)
