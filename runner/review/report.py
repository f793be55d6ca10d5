"""The HTML report: one self-contained page with a card per job and its videos.

The page needs no server and loads nothing from elsewhere: style and script are
inline (and pinned by hash in its Content-Security-Policy), and each video is a
path relative to the page's folder, so the page and the outputs can be moved or
uploaded together. Everything taken from a manifest or from the API is escaped.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from runner.catalog.prices import money_text
from runner.review.report_assets import SCRIPT, STYLE
from runner.review.results import (
    FAILURES,
    STATUSES,
    JobRow,
    LockView,
    cost_total,
    format_seconds,
    has_estimates,
    output_file,
    status_counts,
)

_UNCERTAIN_HINT = (
    "The submission was sent but no answer came back, so the task may exist and be "
    "billed; it is not sent again unless the run is given --resubmit-uncertain."
)


def default_path(lockfile: Path, manifest: Path) -> Path:
    """``manifests/demo.yaml`` reports to ``demo.report.html`` beside its lockfile."""
    return lockfile.with_name(manifest.name.rsplit(".", 1)[0] + ".report.html")


def render_html(views: Sequence[LockView], out_dir: Path) -> str:
    """The report page for ``views``, with video paths relative to ``out_dir``."""
    counts = status_counts(views)
    total = sum(counts.values())
    models = sorted({_model(row) for view in views for row in view.rows()})
    body = "\n".join(
        [
            _header(views, counts, total),
            _filters(counts, models, total),
            *(_section(view, out_dir) for view in views),
            f"<script>{SCRIPT}</script>",
        ]
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_csp()}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(_title(views))}</title>\n<style>{STYLE}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def _csp() -> str:
    return "; ".join(
        [
            "default-src 'none'",
            f"style-src '{_hash(STYLE)}'",
            f"script-src '{_hash(SCRIPT)}'",
            "media-src 'self' file:",
            "img-src 'self' data:",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )


def _hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def _title(views: Sequence[LockView]) -> str:
    return "vidbatch report: " + ", ".join(view.manifest for view in views)


def _header(views: Sequence[LockView], counts: Mapping[str, int], total: int) -> str:
    chips = "".join(
        f'<button type="button" class="chip s-{status}" data-filter-status="{status}">'
        f"<b>{count}</b> {_label(status)}</button>"
        for status, count in counts.items()
        if count
    )
    sources = ", ".join(
        f"<code>{_e(view.manifest)}</code> (lockfile <code>{_e(str(view.lockfile))}</code>)"
        for view in views
    )
    cost = ""
    if has_estimates(views):
        cost = f'<p class="cost">Estimated cost: <b>{_e(cost_total(views).text())}</b></p>\n'
    return (
        f'<header>\n<h1>vidbatch report</h1>\n<p class="sources">{sources}</p>\n'
        f'<p class="counts"><span class="total"><b>{total}</b> jobs</span>{chips}</p>\n'
        f"{cost}</header>"
    )


def _filters(counts: Mapping[str, int], models: Sequence[str], total: int) -> str:
    statuses = _options((s, _label(s)) for s in STATUSES if counts.get(s))
    model_options = _options((m, m) for m in models)
    return (
        '<nav class="filters">\n'
        '<label>Status <select id="f-status"><option value="">all</option>'
        f"{statuses}</select></label>\n"
        '<label>Model <select id="f-model"><option value="">all</option>'
        f"{model_options}</select></label>\n"
        '<label>Search <input id="f-text" type="search" placeholder="job or prompt"></label>\n'
        '<label>Estimate <select id="f-cost"><option value="">any</option>'
        '<option value="priced">priced</option><option value="unpriced">unpriced</option>'
        "</select></label>\n"
        '<label>at least $<input id="f-cost-min" type="number" min="0" step="0.01"'
        ' placeholder="0.00"></label>\n'
        f'<span class="shown">showing <b id="shown">{total}</b> of {total}</span>\n'
        "</nav>"
    )


def _options(pairs: Iterable[tuple[str, str]]) -> str:
    return "".join(f'<option value="{_e(v)}">{_e(text)}</option>' for v, text in pairs)


def _section(view: LockView, out_dir: Path) -> str:
    cards = [_card(view, row, out_dir) for row in view.rows()]
    inner = "\n".join(cards) if cards else '<p class="empty">No jobs in this lockfile.</p>'
    return (
        f'<section class="manifest">\n<h2>{_e(view.manifest)}</h2>\n'
        f'<div class="cards">\n{inner}\n</div>\n</section>'
    )


def _card(view: LockView, row: JobRow, out_dir: Path) -> str:
    prompt = str(row.request.get("prompt", ""))
    search = f"{row.key} {prompt}"
    videos = "".join(_video(view, output, out_dir) for output in row.outputs)
    kind = "card failure" if row.status in FAILURES else "card"
    return (
        f'<article class="{kind}" data-status="{_e(row.status)}" data-model="{_e(_model(row))}"'
        f' data-text="{_e(search)}" data-cost="{_e(_cost_max(row))}">\n'
        f'<h3><span class="key">{_e(row.key)}</span>'
        f' <span class="badge s-{_e(row.status)}">{_e(_label(row.status))}</span></h3>\n'
        f"{videos}{_error(row)}"
        f'<p class="prompt">{_e(prompt) or "<i>no prompt</i>"}</p>\n'
        f"{_facts(row)}</article>"
    )


def _video(view: LockView, output: Mapping[str, Any], out_dir: Path) -> str:
    file = output_file(view, output)
    caption = _e(_describe(output))
    if file is None:
        url = str(output.get("url", ""))
        link = (
            f'<a href="{_e(url)}" rel="noreferrer">remote URL</a>'
            if url.startswith(("https://", "http://"))
            else "no URL"
        )
        return f'<p class="missing">Not downloaded ({link}). {caption}</p>\n'
    return (
        f'<figure><video controls preload="metadata" src="{_e(_href(file, out_dir))}">'
        f"</video><figcaption>{caption}</figcaption></figure>\n"
    )


def _href(file: Path, out_dir: Path) -> str:
    try:
        relative = os.path.relpath(os.path.abspath(file), os.path.abspath(out_dir))
    except ValueError:  # another drive on Windows: no relative path exists
        return Path(os.path.abspath(file)).as_uri()
    return quote(Path(relative).as_posix(), safe="/")


def _describe(output: Mapping[str, Any]) -> str:
    parts = []
    if isinstance(output.get("path"), str):
        parts.append(str(output["path"]))
    if output.get("width") and output.get("height"):
        parts.append(f"{output['width']}×{output['height']}")
    if isinstance(output.get("duration"), (int, float)):
        parts.append(f"{output['duration']:g} s")
    if isinstance(output.get("bytes"), int):
        parts.append(_size(output["bytes"]))
    return " · ".join(parts)


def _size(count: int) -> str:
    if count < 1000:
        return f"{count} bytes"
    amount = float(count)
    for unit in ("KB", "MB", "GB"):
        amount /= 1000
        if amount < 1000 or unit == "GB":
            break
    return f"{amount:.1f} {unit}"


def _error(row: JobRow) -> str:
    error = row.error
    if error is None and row.status != "uncertain":
        return ""
    parts = []
    if error is not None:
        kind = " ".join(str(error[k]) for k in ("status", "type", "code") if error.get(k))
        if kind:
            parts.append(f"<b>{_e(kind)}</b> ")
        parts.append(_e(str(error.get("message", ""))))
    if row.status == "uncertain":
        parts.append(f'<br><span class="hint">{_e(_UNCERTAIN_HINT)}</span>')
    return f'<p class="error">{"".join(parts)}</p>\n'


def _facts(row: JobRow) -> str:
    request, entry = row.request, row.entry or {}
    taken = row.time_taken
    facts = [
        ("model", _model(row)),
        ("operation", request.get("operation")),
        ("seed", row.seed),
        ("duration", f"{request['duration']} s" if "duration" in request else None),
        ("resolution", request.get("resolution") or request.get("size")),
        ("aspect ratio", request.get("aspect_ratio")),
        ("time taken", None if taken is None else format_seconds(taken)),
        ("attempts", entry.get("attempts")),
        ("estimate", row.estimate.text() if row.estimate is not None else None),
        ("task", entry.get("task_id")),
        ("request id", entry.get("request_id") or (entry.get("error") or {}).get("request_id")),
        ("billing transaction", entry.get("billing_transaction_id")),
    ]
    items = "".join(
        f"<dt>{_e(name)}</dt><dd>{_e(str(value))}</dd>"
        for name, value in facts
        if value is not None
    )
    return f"<dl>{items}</dl>\n"


def _cost_max(row: JobRow) -> str:
    """The job's maximum estimate in USD for the cost filter: ``unpriced`` when it was
    sent without one, "" when none was recorded."""
    found = row.estimate
    if found is None:
        return ""
    return "unpriced" if found.high is None else money_text(found.high)


def _model(row: JobRow) -> str:
    return str(row.request.get("model", "sora-2"))


def _label(status: str) -> str:
    return status.replace("_", " ")


def _e(text: str) -> str:
    return escape(text, quote=True)
