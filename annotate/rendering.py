"""Markdown to safe HTML for prompts, responses and guidelines."""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

# Raw HTML in the source is escaped by the parser (html=False); nh3 then whitelists what the
# renderer produced, so a response containing <script> or onerror= shows as text.
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
_TAGS = {
    "p",
    "br",
    "hr",
    "em",
    "strong",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "del",
}


# Responses and prompts never change once imported, and a prompt is shown with each of its
# pairs: rendering each text once per process takes markdown off the `next` hot path.
@lru_cache(maxsize=2048)
def render_markdown(text: str) -> str:
    """Render markdown (with code blocks) to sanitized HTML."""
    return nh3.clean(
        _markdown.render(text),
        tags=_TAGS,
        attributes={"a": {"href", "title"}, "code": {"class"}, "th": {"align"}, "td": {"align"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
