"""The sync page's chart of a model's last 24 hours, as inline SVG drawn on the server (no
JavaScript): records written per run as bars, the lag at each run as a line, failed runs in red.
Runs closer together than a bar's width share it (health.last_day gathers them: their records
added up, their worst lag)."""
from django.utils.html import escape
from django.utils.safestring import mark_safe

WIDTH, HEIGHT, BAR = 480, 60, 2  # the plot, in pixels; a bar is BAR pixels wide
SLOTS = WIDTH // BAR  # one bar per 6 minutes
TOP, BOTTOM = 14, 14  # room for the labels above and below the plot


def duration(seconds):
    """A lag as people read it: 45 s, 12 min, 3.5 h."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def svg(model, slots):
    """The chart of one model from its slots (health.last_day with SLOTS), as markup safe to put
    in a page."""
    most = max((s["written"] for s in slots), default=0)
    worst = max((s["lag_seconds"] for s in slots if s["lag_seconds"] is not None), default=None)
    y0 = TOP + HEIGHT
    parts = []
    for s in slots:
        x = s["slot"] * BAR
        h = max(1, round(s["written"] / most * HEIGHT)) if most and s["written"] else 1
        ago = (SLOTS - s["slot"]) * 24 / SLOTS
        tip = (f"{ago:.1f} h ago: {s['runs']} run(s), {s['written']} record(s) written"
               + (f", {s['failed']} failed" if s["failed"] else "")
               + (f", lag {duration(s['lag_seconds'])}" if s["lag_seconds"] is not None else ""))
        kind = "failed" if s["failed"] else ("written" if s["written"] else "quiet")
        parts.append(f'<rect class="{kind}" x="{x}" y="{y0 - h}" width="{BAR}" height="{h}"><title>{escape(tip)}</title></rect>')
    if worst:
        points = " ".join(f"{s['slot'] * BAR + BAR / 2:g},{y0 - s['lag_seconds'] / worst * HEIGHT:.1f}" for s in slots if s["lag_seconds"] is not None)
        parts.append(f'<polyline class="lag" points="{points}"/>')
    total = sum(s["runs"] for s in slots)
    failed = sum(s["failed"] for s in slots)
    summary = (f"{model}, last 24 hours: {total} run(s), {failed} failed, "
               f"at most {most} record(s) written by one bar" + (f", worst lag {duration(worst)}" if worst else ""))
    labels = [
        f'<text x="0" y="10">{escape(f"{most} records")}</text>',
        f'<text x="{WIDTH}" y="10" text-anchor="end" class="lag">{escape(f"lag up to {duration(worst)}" if worst else "no lag measured")}</text>',
        f'<text x="0" y="{y0 + 12}">24 h ago</text>',
        f'<text x="{WIDTH / 2:g}" y="{y0 + 12}" text-anchor="middle">12 h ago</text>',
        f'<text x="{WIDTH}" y="{y0 + 12}" text-anchor="end">now</text>',
    ]
    return mark_safe(
        f'<svg class="scrap-sga-chart" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{TOP + HEIGHT + BOTTOM}" '
        f'viewBox="0 0 {WIDTH} {TOP + HEIGHT + BOTTOM}" role="img" aria-label="{escape(summary)}">'
        f"<title>{escape(summary)}</title>"
        f'<line class="axis" x1="0" y1="{y0}" x2="{WIDTH}" y2="{y0}"/>' + "".join(parts + labels) + "</svg>"
    )
