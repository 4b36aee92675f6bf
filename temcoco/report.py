"""The job report: one self-contained HTML file (``OUT/reports/<job_id>.html``).

Summary, per clip a strip of frames (IR | VI | fused at three moments), the fused video,
per-frame metric plots (SSIM, flowD; chunk boundaries marked), the clip metrics table and
the failed clips with their reasons. Images are inline data URIs; plots are inline SVG.
"""

from __future__ import annotations

import html
import math
import posixpath
from urllib.parse import quote

from temcoco.errors import TemcocoError
from temcoco.storage import results
from temcoco.storage.fs import join, read_json, write_bytes
from temcoco.storage.layout import ClipLayout

SHOWN = ("frames", "seconds", "EN", "SD", "SF", "AG", "MI", "SCD", "VIF", "Qabf", "SSIM", "PSNR", "flowD", "feaCD",
         "BiSWE", "flowD_seam", "flowD_inner")


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:.4g}" if isinstance(v, float) else html.escape(str(v))


def plot(series: list[float | None], title: str, chunk: int, width: int = 360, height: int = 120) -> str:
    """An inline SVG line plot of a per-frame series; dashed lines at chunk boundaries."""
    points = [(i, v) for i, v in enumerate(series) if v is not None and math.isfinite(v)]
    if len(points) < 2:
        return f'<div class="plot empty">{html.escape(title)}: not enough frames</div>'
    lo, hi = min(v for _, v in points), max(v for _, v in points)
    span, n = (hi - lo) or 1.0, max(len(series) - 1, 1)
    x = lambda i: 30 + (width - 40) * i / n  # noqa: E731
    y = lambda v: 10 + (height - 30) * (1 - (v - lo) / span)  # noqa: E731
    seams = "".join(f'<line x1="{x(s):.1f}" x2="{x(s):.1f}" y1="10" y2="{height - 20}" class="seam"/>'
                    for s in range(chunk, len(series), chunk)) if chunk else ""
    line = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in points)
    return (f'<svg class="plot" width="{width}" height="{height}" role="img" aria-label="{html.escape(title)}">'
            f'<text x="30" y="9" class="t">{html.escape(title)}</text>{seams}'
            f'<polyline points="{line}" class="l"/>'
            f'<text x="0" y="{y(hi) + 4:.1f}" class="a">{hi:.4g}</text><text x="0" y="{y(lo):.1f}" class="a">{lo:.4g}</text>'
            f'<text x="{width - 40}" y="{height - 5}" class="a">frame {len(series) - 1}</text></svg>')


def render(out: str, job_id: str, storage_options: dict | None = None) -> str:
    """Write ``OUT/reports/<job_id>.html`` and return its URL."""
    summary = read_json(join(out, "jobs", f"{job_id}.json"), storage_options)
    if summary is None:
        raise TemcocoError(f"no job {job_id!r} under {out} (see {join(out, 'jobs')})")
    quoted = job_id.replace("'", "''")
    rows = results.query(out, f"SELECT * FROM metrics WHERE job_id = '{quoted}' ORDER BY clip_id",
                         storage_options).to_pylist()
    parts = [_summary(summary)]
    ok = [r for r in rows if r["status"] == "ok"]
    if ok:
        parts.append("<h2>Clip metrics</h2>" + _table(ok))
    for r in ok:
        preview = read_json(ClipLayout(out, r["clip_id"], job_id, r["model_version"]).preview, storage_options)
        parts.append(_clip(r, preview, _video_link(out, r.get("video"))))
    failed = [r for r in rows if r["status"] == "failed"]
    if failed:
        parts.append('<h2>Failed clips</h2><table class="failed"><tr><th>clip</th><th>reason</th></tr>' + "".join(
            f"<tr><td>{html.escape(r['clip_id'])}</td><td>{html.escape(r['error'] or '')}</td></tr>" for r in failed)
            + "</table>")
    skipped = [r for r in rows if r["status"] == "skipped"]
    if skipped:
        parts.append("<h2>Skipped clips</h2><ul>" + "".join(
            f"<li>{html.escape(r['clip_id'])}: {html.escape(r['note'] or '')}</li>" for r in skipped) + "</ul>")
    page = _PAGE.format(title=html.escape(f"temcoco job {job_id}"), body="\n".join(parts))
    url = join(out, "reports", f"{job_id}.html")
    write_bytes(url, page.encode(), storage_options)
    return url


def _video_link(out: str, video: str | None) -> str:
    """The row's video as a link relative to OUT/reports/ (so the report works wherever OUT is copied)."""
    if not video:
        return ""
    rel = posixpath.relpath(video, out.rstrip("/")) if video.startswith(out.rstrip("/") + "/") else video
    return quote("../" + rel if rel != video else video, safe="/:")


def _summary(s: dict) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in (s.get("versions") or {}).items())
    return (f"<h1>temcoco job {html.escape(s['job_id'])}</h1>"
            f'<p class="summary"><b>{s.get("ok", 0)}</b> ok · <b>{s.get("failed", 0)}</b> failed · '
            f'<b>{s.get("skipped", 0)}</b> skipped of {s.get("clips", 0)} clips · {s.get("frames", 0)} frames in '
            f'{float(s.get("seconds") or 0):.1f} s · seam ratio {_fmt(s.get("seam_ratio"))} '
            f'· method {html.escape(str(s.get("method")))} '
            f'({html.escape(str(s.get("model_version")))})</p>'
            f'<p class="small">archive {html.escape(str(s.get("archive")))} · date {html.escape(str(s.get("date")))} '
            f'· {html.escape(versions)}</p>')


def _table(rows: list[dict]) -> str:
    head = "".join(f"<th>{c}</th>" for c in ("clip", *SHOWN))
    body = "".join("<tr><td>" + html.escape(r["clip_id"]) + "</td>" + "".join(f"<td>{_fmt(r.get(c))}</td>" for c in SHOWN)
                   + "</tr>" for r in rows)
    return f'<table class="metrics"><tr>{head}</tr>{body}</table>'


def _clip(row: dict, preview: dict | None, link: str) -> str:
    name = html.escape(row["clip_id"])
    video = html.escape(link, quote=True)
    out = [f'<section class="clip"><h2>{name}</h2>'
           f'<p class="small">{row["frames"]} frames, {row["width"]}×{row["height"]} @ {_fmt(row["fps"])} fps · '
           f'<a href="{video}">fused video</a>{" · " + html.escape(row["note"]) if row.get("note") else ""}</p>']
    if preview:
        out.append('<div class="strips"><div class="legend">IR | VI | fused</div>' + "".join(
            f'<figure><img src="{s["image"]}" alt="{name} frame {s["frame"]}"><figcaption>frame {s["frame"]}'
            f"</figcaption></figure>" for s in preview["strips"]) + "</div>")
        series = preview.get("per_frame") or {}
        out.append('<div class="plots">' + "".join(plot(series.get(k) or [], f"{k} per frame", preview.get("chunk", 0))
                                                   for k in ("SSIM", "flowD")) + "</div>")
    out.append(f'<video controls preload="none" width="480" src="{video}"></video></section>')
    return "".join(out)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }} td, th {{ border: 1px solid #ccc; padding: 2px 6px; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }} .failed td {{ text-align: left; }}
.small {{ color: #666; font-size: 12px; }} .strips figure {{ display: inline-block; margin: 0 8px 8px 0; }}
figcaption {{ font-size: 12px; color: #666; }} .legend {{ font-size: 12px; color: #444; }}
.plot {{ margin-right: 12px; }} .plot .l {{ fill: none; stroke: #c33; stroke-width: 1.5; }}
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
