"""The job report: one self-contained HTML file (``OUT/reports/<job_id>.html``).

Summary, failed clips with their reasons, the metrics table of the ok clips, skipped clips (so every
clip is listed), then per ok clip its per-frame metric plots (SSIM, flowD: mean per bin over the
min–max band; chunk boundaries marked when there are few) and links to its fused video and
preview data. Frame strips (IR | VI | fused at three moments) and a video player are inline only
for the first ``STRIPS_FIRST`` clips and the ``STRIPS_WORST`` clips with the highest flowD, so the
page grows by a few kB per clip whatever the clip lengths. Images are data URIs; plots are inline SVG.

The page is built streaming: rows come from DuckDB in batches, each clip's preview is read only
while its section is written, the parts go to local temp files and are joined into the published
file (atomic, see DESIGN.md 'Exactly-once results'); memory does not grow with the job.
"""

from __future__ import annotations

import html
import math
import posixpath
import shutil
import tempfile
from contextlib import ExitStack
from typing import BinaryIO
from urllib.parse import quote

import numpy as np

from temcoco.errors import TemcocoError
from temcoco.preview import coarsen, reduce_series
from temcoco.storage import results
from temcoco.storage.fs import open_atomic, read_json
from temcoco.storage.layout import ClipLayout, job_report, job_summary, jobs_folder, reports_folder

SHOWN = ("frames", "seconds", "EN", "SD", "SF", "AG", "MI", "SCD", "VIF", "Qabf", "SSIM", "PSNR", "flowD", "feaCD",
         "BiSWE", "flowD_seam", "flowD_inner")
PLOT_BINS = 48  # bins drawn per plot (a preview keeps up to 1,000 per series)
SEAMS_DRAWN = 12  # chunk boundaries are drawn for clips with at most this many chunks
STRIPS_FIRST = 10  # the first clips (by clip id) with frame strips and a player inline
STRIPS_WORST = 10  # and the clips with the highest flowD
PARTS = {  # the page's parts, in page order: heading, opening and closing markup
    "failed": ("Failed clips", '<table class="failed"><tr><th>clip</th><th>reason</th></tr>', "</table>"),
    "metrics": ("Clip metrics", '<table class="metrics"><tr>' + "".join(
        f"<th>{c}</th>" for c in ("clip", *SHOWN)) + "</tr>", "</table>"),
    "skipped": ("Skipped clips", "<ul>", "</ul>"),
    "clips": ("Clips", "", ""),
}


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:.4g}" if isinstance(v, float) else html.escape(str(v))


def plot(series: dict | None, title: str, chunk: int, width: int = 360, height: int = 120) -> str:
    """An inline SVG plot of a reduced per-frame series (:func:`temcoco.preview.reduce_series`),
    coarsened to ``PLOT_BINS`` bins: the mean per bin as a line over the min–max band (so a
    one-frame spike stays visible), dashed lines at chunk boundaries (``chunk`` frames apart)."""
    s = coarsen(series, PLOT_BINS) if series else None
    keep = [i for i, m in enumerate(s["mean"]) if m is not None] if s else []
    if len(keep) < 2:
        return f'<div class="plot empty">{html.escape(title)}: not enough frames</div>'
    frame, lo, mean, hi = (np.array([s[k][i] for i in keep], dtype=np.float64) for k in ("frame", "min", "mean", "max"))
    bottom, top, last = lo.min(), hi.max(), max(s["frames"] - 1, 1)
    x = lambda f: np.rint(30 + (width - 40) * f / last).astype(int)  # noqa: E731 - whole pixels keep the page small
    y = lambda v: np.rint(10 + (height - 30) * (1 - (v - bottom) / ((top - bottom) or 1.0))).astype(int)  # noqa: E731
    band = _path(np.r_[x(frame), x(frame)[::-1]], np.r_[y(hi), y(lo)[::-1]]) + "z" if (hi > lo).any() else ""
    seams = "".join(f"M{p},10v{height - 30}" for p in x(np.arange(chunk, s["frames"], chunk)).tolist()) \
        if chunk and s["frames"] <= chunk * SEAMS_DRAWN else ""
    return (f'<svg class="plot" width="{width}" height="{height}" role="img" aria-label="{html.escape(title)}">'
            f'<text x="30" y="9" class="t">{html.escape(title)}</text>'
            + (f'<path d="{seams}" class="seam"/>' if seams else "") + (f'<path d="{band}" class="b"/>' if band else "")
            + f'<path d="{_path(x(frame), y(mean))}" class="l"/>'
            f'<text x="0" y="{y(top) + 4}" class="a">{top:.4g}</text>'
            f'<text x="0" y="{y(bottom)}" class="a">{bottom:.4g}</text>'
            f'<text x="{width - 2}" y="{height - 5}" class="a" text-anchor="end">frame {s["frames"] - 1}</text></svg>')


def _path(xs: np.ndarray, ys: np.ndarray) -> str:
    """SVG path data through the whole-pixel points (xs, ys), (N,) ints each, in relative steps (compact)."""
    steps = " ".join(f"{a},{b}" for a, b in zip(np.diff(xs).tolist(), np.diff(ys).tolist()))
    return f"M{xs[0]},{ys[0]}l{steps}"


def render(out: str, job_id: str, storage_options: dict | None = None) -> str:
    """Write ``OUT/reports/<job_id>.html`` and return its URL (streaming: see the module docstring)."""
    summary = read_json(job_summary(out, job_id), storage_options)
    if summary is None:
        raise TemcocoError(f"no job {job_id!r} under {out} (see {jobs_folder(out)})")
    url = job_report(out, job_id)
    with ExitStack() as stack:
        parts = {name: stack.enter_context(tempfile.TemporaryFile()) for name in PARTS}
        for n, row in enumerate(results.query_rows(out, _rows_sql(job_id), storage_options)):
            _add_row(parts, n, row, out, job_id, storage_options)
        page = stack.enter_context(open_atomic(url, storage_options))
        _assemble(page, _summary(summary), job_id, parts)
    return url


def _rows_sql(job_id: str) -> str:
    """The job's rows by clip id, in one scan, with ``inline``: whether the clip's strips are shown
    (among the first ``STRIPS_FIRST`` ok clips, or the ``STRIPS_WORST`` with the highest flowD)."""
    job = "'" + job_id.replace("'", "''") + "'"
    return ("SELECT *, status = 'ok' AND (row_number() OVER (PARTITION BY status ORDER BY clip_id) <= "
            f"{STRIPS_FIRST} OR row_number() OVER (PARTITION BY status ORDER BY flowD DESC NULLS LAST) <= "
            f"{STRIPS_WORST}) AS inline FROM metrics WHERE job_id = {job} ORDER BY clip_id")


def _add_row(parts: dict[str, BinaryIO], n: int, row: dict, out: str, job_id: str,
             storage_options: dict | None) -> None:
    """Append the ``n``-th row of the job to its parts of the page (an ok clip: its preview is read now)."""
    name = html.escape(row["clip_id"])
    if row["status"] == "failed":
        parts["failed"].write(f"<tr><td>{name}</td><td>{html.escape(row['error'] or '')}</td></tr>\n".encode())
    elif row["status"] == "skipped":
        parts["skipped"].write(f"<li>{name}: {html.escape(row['note'] or '')}</li>\n".encode())
    elif row["status"] == "ok":
        cells = "".join(f"<td>{_fmt(row.get(c))}</td>" for c in SHOWN)
        parts["metrics"].write(f'<tr><td><a href="#c{n}">{name}</a></td>{cells}</tr>\n'.encode())
        layout = ClipLayout(out, row["clip_id"], job_id, row["model_version"])
        preview = read_json(layout.preview, storage_options)
        links = {"video": _link(out, row.get("video")), "preview": _link(out, layout.preview)}
        parts["clips"].write((_clip(n, row, preview, links, row["inline"]) + "\n").encode())


def _assemble(page: BinaryIO, summary: str, job_id: str, parts: dict[str, BinaryIO]) -> None:
    """Write the whole page: head, summary, then each non-empty part under its heading."""
    top, bottom = _PAGE.format(title=html.escape(f"temcoco job {job_id}"), body="\0").split("\0")
    page.write((top + summary).encode())
    for name, (heading, opening, closing) in PARTS.items():
        part = parts[name]
        if part.tell():
            page.write(f"<h2>{heading}</h2>{opening}\n".encode())
            part.seek(0)
            shutil.copyfileobj(part, page)
            page.write(closing.encode())
    page.write(bottom.encode())


def _link(out: str, url: str | None) -> str:
    """``url`` as a link relative to the reports' folder when it is under OUT (so the report works wherever
    OUT is copied), else as it is."""
    if not url:
        return ""
    if not url.startswith(out.rstrip("/") + "/"):
        return quote(url, safe="/:")
    return quote(posixpath.join(posixpath.relpath(out, reports_folder(out)), posixpath.relpath(url, out)), safe="/:")


def _summary(s: dict) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in (s.get("versions") or {}).items())
    return (f"<h1>temcoco job {html.escape(s['job_id'])}</h1>"
            f'<p class="summary"><b>{s.get("ok", 0)}</b> ok · <b>{s.get("failed", 0)}</b> failed · '
            f'<b>{s.get("skipped", 0)}</b> skipped of {s.get("clips", 0)} clips'
            + (f' (kept {s["kept"]} already done)' if s.get("kept") else "")
            + f' · {s.get("frames", 0)} frames in '
            f'{float(s.get("seconds") or 0):.1f} s · seam ratio {_fmt(s.get("seam_ratio"))} '
            f'· method {html.escape(str(s.get("method")))} '
            f'({html.escape(str(s.get("model_version")))})</p>'
            f'<p class="small">archive {html.escape(str(s.get("archive")))} · date {html.escape(str(s.get("date")))} '
            f'· {html.escape(versions)}</p>')


def _series(preview: dict) -> dict[str, dict]:
    """The preview's reduced series by metric; previews of earlier versions hold whole per-frame lists."""
    return preview.get("series") or {k: reduce_series(v) for k, v in (preview.get("per_frame") or {}).items()}


def _clip(n: int, row: dict, preview: dict | None, links: dict[str, str], inline: bool) -> str:
    """One ok clip's section: facts and links, its plots, and with ``inline`` its frame strips and a player."""
    name, video = html.escape(row["clip_id"]), html.escape(links["video"], quote=True)
    out = [f'<section class="clip"><h3 id="c{n}">{name}</h3>'
           f'<p class="small">{row["frames"]} frames, {row["width"]}×{row["height"]} @ {_fmt(row["fps"])} fps · '
           f'<a href="{video}">fused video</a> · '
           f'<a href="{html.escape(links["preview"], quote=True)}">preview data</a>'
           f'{" · " + html.escape(row["note"]) if row.get("note") else ""}</p>']
    if preview and inline:
        out.append('<div class="strips"><div class="legend">IR | VI | fused</div>' + "".join(
            f'<figure><img src="{s["image"]}" alt="{name} frame {s["frame"]}"><figcaption>frame {s["frame"]}'
            f"</figcaption></figure>" for s in preview["strips"]) + "</div>")
    if preview:
        series = _series(preview)
        out.append('<div class="plots">' + "".join(plot(series.get(k), f"{k} per frame", preview.get("chunk", 0))
                                                   for k in ("SSIM", "flowD")) + "</div>")
    if inline:
        out.append(f'<video controls preload="none" width="480" src="{video}"></video>')
    return "".join(out) + "</section>"


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }} td, th {{ border: 1px solid #ccc; padding: 2px 6px; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }} .failed td {{ text-align: left; }}
.small {{ color: #666; font-size: 12px; }} .strips figure {{ display: inline-block; margin: 0 8px 8px 0; }}
figcaption {{ font-size: 12px; color: #666; }} .legend {{ font-size: 12px; color: #444; }}
.plot {{ margin-right: 12px; }} .plot .l {{ fill: none; stroke: #c33; stroke-width: 1.5; }}
.plot .b {{ fill: #f3c4c4; }}
.plot .seam {{ stroke: #999; stroke-dasharray: 3 3; }} .plot .t {{ font-size: 11px; }} .plot .a {{ font-size: 9px; fill: #666; }}
section.clip {{ border-top: 1px solid #ddd; margin-top: 1.5em; }}
</style></head>
<body>
{body}
<script>
window.addEventListener("load", () => {{
  const imgs = [...document.images];
  document.body.dataset.imagesTotal = imgs.length;
  document.body.dataset.imagesLoaded = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
}});
</script>
</body></html>
"""
