"""Walking a paged list (``{items, next_cursor}``) of the API to its end."""

from __future__ import annotations

from typing import Any

import httpx


async def every_page(
    api: httpx.AsyncClient, path: str, headers: dict[str, str], **params: Any
) -> list[list[dict[str, Any]]]:
    """Each page's items, following ``next_cursor`` with the same ``params`` until it is None."""
    pages: list[list[dict[str, Any]]] = []
    query = dict(params)
    while True:
        r = await api.get(path, params=query, headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append(body["items"])
        if body["next_cursor"] is None:
            return pages
        query = {**params, "cursor": body["next_cursor"]}
        assert len(pages) < 100, "the cursor does not advance"
