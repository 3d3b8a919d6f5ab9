"""The ``/docs`` page: the OpenAPI document rendered as one self-contained HTML page.

No JavaScript and nothing fetched from elsewhere (a CDN-hosted Swagger UI
does not load on a machine without internet access): every operation with
its summary, authentication, path parameters and request body, then every
request schema as a table of fields with their types and limits.  Built
once per app from the same document ``/openapi.json`` serves.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

__all__ = ["docs_html"]

_CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:60rem;
 padding:1rem 2rem;color:#222}
h1{margin-bottom:.2rem}h2{border-bottom:1px solid #ccc;margin-top:2rem}
.op{border:1px solid #ddd;border-radius:6px;padding:.4rem .8rem;margin:.5rem 0}
.m{display:inline-block;min-width:4.5rem;font-weight:600;font-family:monospace}
.get{color:#1a6}.post{color:#16a}.patch{color:#a61}.delete{color:#b22}.put{color:#a61}
code,.p{font-family:ui-monospace,monospace;font-size:.92em}
.tag{font-size:.8em;border-radius:4px;padding:0 .35rem;margin-left:.4rem;
 background:#eee}
.admin{background:#fde2e2}.open{background:#e2f5e2}
table{border-collapse:collapse;margin:.4rem 0 1rem}
td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f6f6}pre{background:#f6f6f6;padding:.5rem;overflow:auto}
"""


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _type(schema: dict[str, Any]) -> str:
    """A short HTML description of a JSON schema's type."""
    if "$ref" in schema:
        name = escape(_ref_name(schema["$ref"]))
        return f'<a href="#schema-{name}">{name}</a>'
    if "anyOf" in schema:
        parts = [_type(s) for s in schema["anyOf"]]
        return " or ".join(parts)
    if "enum" in schema:
        return "one of " + ", ".join(
            f"<code>{escape(json.dumps(v))}</code>" for v in schema["enum"]
        )
    t = schema.get("type", "any")
    if t == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if t == "object" and "additionalProperties" in schema:
        extra = schema["additionalProperties"]
        if isinstance(extra, dict):
            return f"object of {_type(extra)}"
    return escape(str(t))


def _limits(schema: dict[str, Any]) -> str:
    out = []
    for s in schema.get("anyOf", [schema]):
        for k, label in (
            ("minimum", "&ge;"),
            ("maximum", "&le;"),
            ("minLength", "length &ge;"),
            ("maxLength", "length &le;"),
            ("minItems", "items &ge;"),
            ("maxItems", "items &le;"),
        ):
            if k in s:
                out.append(f"{label} {escape(str(s[k]))}")
        if "pattern" in s:
            out.append(f"matches <code>{escape(s['pattern'])}</code>")
    return "; ".join(out)


def _schema_table(name: str, schema: dict[str, Any]) -> str:
    parts = [f'<h3 id="schema-{escape(name)}">{escape(name)}</h3>']
    if schema.get("description"):
        parts.append(f"<p>{escape(schema['description'])}</p>")
    props: dict[str, Any] = schema.get("properties", {})
    if not props:
        parts.append(f"<pre>{escape(json.dumps(schema, indent=1))}</pre>")
        return "".join(parts)
    required = set(schema.get("required", ()))
    rows = []
    for field, s in props.items():
        default = (
            f"<code>{escape(json.dumps(s['default']))}</code>" if "default" in s else ""
        )
        rows.append(
            f"<tr><td><code>{escape(field)}</code></td><td>{_type(s)}</td>"
            f"<td>{'yes' if field in required else ''}</td><td>{default}</td>"
            f"<td>{_limits(s)}</td></tr>"
        )
    closed = schema.get("additionalProperties") is False
    parts.append(
        "<table><tr><th>field</th><th>type</th><th>required</th><th>default</th>"
        "<th>limits</th></tr>" + "".join(rows) + "</table>"
    )
    if closed:
        parts.append("<p>No other fields are accepted.</p>")
    return "".join(parts)


def docs_html(spec: dict[str, Any]) -> str:
    """The HTML page of an OpenAPI 3.1 document made by :func:`app.openapi`."""
    info = spec.get("info", {})
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            tag = (op.get("tags") or ["other"])[0]
            by_tag.setdefault(tag, []).append((path, method, op))
    out = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{escape(info.get('title', 'API'))}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{escape(info.get('title', 'API'))}</h1>",
        f"<p>{escape(info.get('description', ''))}</p>",
        "<p>Machine-readable: <a href='/openapi.json'>/openapi.json</a> "
        f"(OpenAPI {escape(spec.get('openapi', ''))}). Signed requests carry "
        "<code>X-Probo-Key</code>, <code>X-Probo-Timestamp</code>, "
        "<code>X-Probo-Nonce</code> and <code>X-Probo-Signature</code> (hex "
        "HMAC-SHA256 of <code>ts\\nMETHOD\\npath\\nquery\\nnonce\\nmax_age\\nbody"
        "</code>); a browser uses the session cookie and "
        "<code>X-CSRF-Token</code>. Every error is "
        '<code>{"error": {"code", "message"}}</code>.</p>',
        "<p>",
        " &middot; ".join(
            f"<a href='#tag-{escape(t)}'>{escape(t)}</a>" for t in sorted(by_tag)
        ),
        " &middot; <a href='#schemas'>schemas</a></p>",
    ]
    for tag in sorted(by_tag):
        out.append(f"<h2 id='tag-{escape(tag)}'>{escape(tag)}</h2>")
        for path, method, op in by_tag[tag]:
            badges = []
            if "security" not in op:
                badges.append("<span class='tag open'>no auth</span>")
            if "(admin)" in op.get("summary", ""):
                badges.append("<span class='tag admin'>admin</span>")
            body = ""
            rb = op.get("requestBody")
            if rb:
                schema = rb["content"]["application/json"]["schema"]
                body = f"<div>body: {_type(schema)}</div>"
            params = "".join(
                f"<div>path parameter <code>{escape(p['name'])}</code></div>"
                for p in op.get("parameters", ())
            )
            m = escape(method)
            out.append(
                f"<div class='op' id='op-{escape(op.get('operationId', ''))}'>"
                f"<span class='m {m}'>{m.upper()}</span>"
                f"<span class='p'>{escape(path)}</span>{''.join(badges)}"
                f"<div>{escape(op.get('summary', ''))}</div>{params}{body}</div>"
            )
    out.append("<h2 id='schemas'>Request schemas</h2>")
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        out.append(_schema_table(name, schema))
    out.append("</body></html>")
    return "".join(out)
