"""Small line charts as inline SVG, drawn on the server: no script, no image requests."""

from __future__ import annotations

from markupsafe import Markup, escape

__all__ = ["sparkline"]


def sparkline(points: list[tuple[float, float]], *, now: float, window_s: float,
              title: str, width: int = 260, height: int = 56) -> Markup:
    """`points` ((unix time, value), oldest first) over the last `window_s` seconds up to
    `now`, as an SVG with a polyline scaled from 0 to the largest value; one point is a dot,
    none a dashed baseline."""
    pad = 2.0
    recent = [(at, value) for at, value in points if at >= now - window_s]
    top = max([value for _, value in recent] + [0.0]) or 1.0

    def x(at: float) -> float:
        return round(pad + (width - 2 * pad) * (1 - (now - at) / window_s), 1)

    def y(value: float) -> float:
        return round(height - pad - (height - 2 * pad) * value / top, 1)

    label = escape(title)
    parts = [f'<svg class="chart" role="img" aria-label="{label}" viewBox="0 0 {width} '
             f'{height}" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{label}</title>",
             f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
             'class="axis"/>']
    if len(recent) == 1:
        at, value = recent[0]
        parts.append(f'<circle cx="{x(at)}" cy="{y(value)}" r="2.5" class="line"/>')
    elif recent:
        coords = " ".join(f"{x(at)},{y(value)}" for at, value in recent)
        parts.append(f'<polyline points="{coords}" class="line" fill="none"/>')
    parts.append(f'<text x="{width - pad}" y="11" text-anchor="end" class="scale">'
                 f"max {top:g}</text></svg>")
    return Markup("".join(parts))  # noqa: S704 -- built from numbers and an escaped title
