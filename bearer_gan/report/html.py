"""The pieces every page is made of: the document with its style, escaped text, tables, bars, figures.

Pages are plain HTML5 written from Python strings; no template engine is worth a dependency for a
few tables. Every value from a run folder is escaped. The page checks its own images when it
opens: a page mailed without its run folder, or opened from elsewhere, says which images it cannot
show instead of showing broken icons (``data-broken-images`` on ``<body>`` counts them).
"""
import html
import math
from typing import Iterable, Optional, Sequence

__all__ = ['escape', 'number', 'document', 'section', 'table', 'bars', 'figure']

STYLE = """
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 1em 2em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.6em; }
.summary { color: #555; margin-top: 0; }
.missing { background: #fff3cd; border: 1px solid #e0c36c; padding: 0.6em 1em; }
.figures { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
figure { margin: 0; } figcaption { color: #555; font-size: 0.9em; margin-top: 0.3em; }
img.pixels { image-rendering: pixelated; }
img.chart { max-width: 100%; }
table { border-collapse: collapse; font-size: 0.92em; }
th, td { border-bottom: 1px solid #eee; padding: 0.25em 0.8em 0.25em 0; text-align: left; vertical-align: top; }
td.value { font-variant-numeric: tabular-nums; }
.bar { background: #4c78a8; height: 0.9em; display: inline-block; vertical-align: middle; }
code { font-size: 0.92em; }
"""

# Counts the images that did not load and names them, once everything has loaded or failed.
CHECK_IMAGES = """
window.addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.images);
  var broken = images.filter(function (image) { return !(image.complete && image.naturalWidth > 0); });
  document.body.setAttribute('data-images', images.length);
  document.body.setAttribute('data-broken-images', broken.length);
  if (broken.length) {
    var note = document.getElementById('missing-images');
    note.textContent = broken.length + ' image(s) cannot be shown here: ' + broken.map(function (image) {
      return image.getAttribute('src'); }).join(', ') + '. The page reads them from the run folder it was written in.';
    note.hidden = false;
  }
});
"""


def escape(value) -> str:
    """``value`` as text safe inside HTML."""
    return html.escape(str(value), quote=True)


def number(value, digits: int = 4) -> str:
    """A value for a table cell: floats to ``digits`` significant digits, None as an em dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '&mdash;'
    if isinstance(value, float):
        return escape(f'{value:.{digits}g}' if abs(value) < 10 ** digits else f'{value:.1f}')
    return escape(value)


def document(title: str, heading: str, summary: str, sections: Iterable[str], footer: str) -> str:
    """A whole page: ``heading``, a ``summary`` line (HTML), the ``sections`` (HTML), a ``footer`` line."""
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{escape(title)}</title>\n'
            f'<style>{STYLE}</style>\n</head>\n<body data-images="" data-broken-images="">\n'
            f'<h1>{escape(heading)}</h1>\n<p class="summary">{summary}</p>\n'
            '<p id="missing-images" class="missing" hidden></p>\n' + '\n'.join(sections)
            + f'\n<footer><p class="summary">{footer}</p></footer>\n<script>{CHECK_IMAGES}</script>\n</body>\n</html>\n')


def section(anchor: str, title: str, *parts: str) -> str:
    """A titled ``<section id=anchor>`` of the HTML ``parts``."""
    return f'<section id="{escape(anchor)}">\n<h2>{escape(title)}</h2>\n' + '\n'.join(parts) + '\n</section>'


def table(header: Sequence[str], rows: Iterable[Sequence[str]], html_cells: bool = False) -> str:
    """A table; cells are escaped unless ``html_cells`` (then they are HTML already, e.g. from :func:`number`)."""
    cell = (lambda value: value) if html_cells else escape
    head = ''.join(f'<th>{escape(name)}</th>' for name in header)
    body = '\n'.join('<tr>' + ''.join(f'<td class="value">{cell(value)}</td>' for value in row) + '</tr>'
                     for row in rows)
    return f'<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>'


def bars(labels: Sequence[str], shares: Sequence[float], width_em: float = 20) -> str:
    """A horizontal bar chart of ``shares`` in ``[0, 1]`` as a table (label, bar, percentage)."""
    top = max([share for share in shares if share is not None] + [1e-12])
    rows = [[escape(label), f'<span class="bar" style="width: {width_em * (share or 0) / top:.2f}em"></span>',
             f'{100 * (share or 0):.1f}%'] for label, share in zip(labels, shares)]
    return table(('', '', 'share'), rows, html_cells=True)


def figure(src: str, caption: str, pixels: bool = False, width: Optional[int] = None) -> str:
    """An image with its caption; ``pixels`` keeps small sample grids sharp when scaled up."""
    size = f' width="{width}"' if width else ''
    kind = 'pixels' if pixels else 'chart'
    return (f'<figure><img class="{kind}" src="{escape(src)}" alt="{escape(caption)}"{size}>'
            f'<figcaption>{escape(caption)}</figcaption></figure>')
