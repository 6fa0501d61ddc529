"""One self-contained HTML page with a zoomable treemap, facts and a searchable, sortable table of every item.

Input is generic: a :class:`Page` of :class:`Item` s — a path (its first part is the top tile, e.g. a
distribution; then directories; then the file), one or more sizes per *panel* (``before``/``after``, side by side)
each with a colour :class:`Key`, a note (shown on hover and in the table) and table cells. :func:`render` turns
it into HTML. ``slimwheel shrink --html`` and ``inspect --html`` use it (:mod:`slimwheel.htmlreport`); any
other view of sizes (a diff coloured by growth) can too.

Guarantees:

* the page needs nothing but itself: inline CSS, script and SVG, no font, no image, and a Content-Security-Policy
  that forbids every request (``default-src 'none'``), so it opens from disk with the network off;
* the data is embedded once, as compact JSON (directories as a parent-index table, repeated strings interned),
  so torch's 12k files make well under 2 MB; the table renders its first rows and more on demand;
* the layout is the squarified treemap (Bruls, Huizing and van Wijk, "Squarified Treemaps", 2000): children
  largest first, placed in rows along the shorter side of the remaining rectangle, a row growing while that
  improves its worst aspect ratio. It runs in the page, for the directory on screen only, so zooming (a click)
  lays the clicked directory out at full size; tiles smaller than a pixel are not drawn (their directory is
  coloured by its largest key);
* panels are drawn to scale: a panel whose total is a quarter of the largest gets a quarter of the area.

Must not know: wheels, zip files, shrinking or what a key means — callers name and colour the keys.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Column", "Facts", "Item", "Key", "Page", "Tile", "page_data", "render"]


@dataclass(frozen=True)
class Key:
    """A colour of the treemap, named in the legend: ``id`` is what tiles refer to, ``colour`` a CSS colour."""

    id: str
    label: str
    colour: str


@dataclass(frozen=True)
class Tile:
    """Bytes of one item in one panel, coloured by ``key``. An item with more than one tile in a panel (a stripped
    file: what is left, and what stripping saved) is drawn as that many tiles side by side."""

    size: int
    key: str


@dataclass(frozen=True)
class Item:
    """One file: where it sits (``path``: the top tile, directories, its name), its tiles per panel (none: not in
    that panel), a note and the table's cells (one per :class:`Column`: text or a whole number)."""

    path: tuple[str, ...]
    tiles: tuple[tuple[Tile, ...], ...]
    note: str = ""
    cells: tuple[str | int, ...] = ()


@dataclass(frozen=True)
class Column:
    """An extra column of the table; ``bytes`` and ``number`` columns hold whole numbers (bytes are shown as
    ``12.3 MB``) and sort numerically."""

    title: str
    kind: Literal["text", "bytes", "number"] = "text"


@dataclass(frozen=True)
class Facts:
    """A small box of ``(label, value)`` lines under the treemap (totals, the check, budgets); ``alert`` lines are
    shown in red."""

    heading: str
    lines: tuple[tuple[str, str], ...]
    alert: frozenset[str] = frozenset()  # labels of the lines to show in red


@dataclass(frozen=True)
class Page:
    """Everything a page shows. ``root`` names the whole tree (the breadcrumb's first step); with one top tile the
    page opens zoomed into it."""

    title: str
    panels: tuple[str, ...]
    keys: tuple[Key, ...]
    items: Sequence[Item]
    root: str = "all"
    subtitle: str = ""
    columns: tuple[Column, ...] = ()
    note_title: str = "note"
    facts: tuple[Facts, ...] = ()
    generator: str = field(default="slimwheel")


def page_data(page: Page) -> dict[str, object]:
    """The page's data as the script reads it (compact: directories as ``[parent, name]`` rows, notes and text
    cells as indexes into ``strings``). A bad page (unknown key, wrong number of tiles or cells, an empty path)
    is a :class:`ValueError`: a bug in the caller."""
    key_index = {k.id: i for i, k in enumerate(page.keys)}
    if len(key_index) != len(page.keys):
        raise ValueError("treemap: two keys with the same id")
    strings: dict[str, int] = {}
    dirs: dict[tuple[str, ...], int] = {(): 0}
    dir_rows: list[list[object]] = [[-1, page.root]]

    def intern(text: str) -> int:
        index = strings.get(text)
        if index is None:
            index = strings[text] = len(strings)
        return index

    def directory(path: tuple[str, ...]) -> int:
        index = dirs.get(path)
        if index is None:
            parent = directory(path[:-1])
            index = dirs[path] = len(dir_rows)
            dir_rows.append([parent, path[-1]])
        return index

    rows: list[list[object]] = []
    for item in page.items:
        if not item.path:
            raise ValueError("treemap: an item with an empty path")
        if len(item.tiles) != len(page.panels):
            raise ValueError(f"treemap: {'/'.join(item.path)}: {len(item.tiles)} tile lists for {len(page.panels)}")
        if len(item.cells) != len(page.columns):
            raise ValueError(f"treemap: {'/'.join(item.path)}: {len(item.cells)} cells for {len(page.columns)}")
        row: list[object] = [directory(item.path[:-1]), item.path[-1], intern(item.note)]
        for tiles in item.tiles:
            flat: list[int] = []
            for tile in tiles:
                if tile.key not in key_index:
                    raise ValueError(f"treemap: {'/'.join(item.path)}: unknown key {tile.key!r}")
                flat += (max(tile.size, 0), key_index[tile.key])
            row.append(flat)
        for column, cell in zip(page.columns, item.cells, strict=True):
            if column.kind == "text":
                row.append(intern(str(cell)))
            elif isinstance(cell, int):
                row.append(cell)
            else:
                raise ValueError(f"treemap: {'/'.join(item.path)}: column {column.title!r} wants a number")
        rows.append(row)
    return {
        "panels": list(page.panels),
        "keys": [[k.label, k.colour] for k in page.keys],
        "columns": [[c.title, c.kind] for c in page.columns],
        "noteTitle": page.note_title,
        "strings": list(strings),
        "dirs": dir_rows,
        "items": rows,
    }


def render(page: Page) -> str:
    """The page as one HTML document (see the module docstring for what it guarantees)."""
    data = json.dumps(page_data(page), ensure_ascii=False, separators=(",", ":"))
    data = data.replace("<", "\\u003c")  # nothing in the JSON can end the <script> element
    esc = html.escape
    facts = "".join(_facts_html(f) for f in page.facts)
    return (
        _TEMPLATE.replace("@TITLE@", esc(page.title))
        .replace("@SUBTITLE@", esc(page.subtitle))
        .replace("@GENERATOR@", esc(page.generator))
        .replace("@FACTS@", facts)
        .replace("@CSS@", _CSS)
        .replace("@SCRIPT@", _SCRIPT)
        .replace("@DATA@", data)
    )


def _facts_html(facts: Facts) -> str:
    esc = html.escape
    lines = "".join(
        f"<tr{' class=alert' if label in facts.alert else ''}><th>{esc(label)}</th><td>{esc(value)}</td></tr>"
        for label, value in facts.lines
    )
    return f'<section class="facts"><h3>{esc(facts.heading)}</h3><table>{lines}</table></section>'


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; \
script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="@GENERATOR@">
<link rel="icon" href="data:,">
<title>@TITLE@</title>
<style>@CSS@</style>
</head>
<body>
<header><h1>@TITLE@</h1><p class="subtitle">@SUBTITLE@</p></header>
<nav id="crumbs" aria-label="zoom"></nav>
<div id="legend"></div>
<div id="panels"></div>
<div id="tip" role="tooltip" hidden></div>
<div id="facts">@FACTS@</div>
<section id="files">
<div class="tablebar"><input id="search" type="search" placeholder="search paths, reasons…" autocomplete="off">
<span id="rowcount"></span></div>
<table id="table"><thead></thead><tbody></tbody></table>
<button id="more" type="button" hidden>show more</button>
</section>
<script type="application/json" id="treemap-data">@DATA@</script>
<script>@SCRIPT@</script>
</body>
</html>
"""

_CSS = """
:root{--fg:#1d2327;--muted:#5f6b73;--line:#d5dade;--bg:#fff;--dir:#eef1f3}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1600px;padding:12px 20px 40px;font:13px/1.4 system-ui,-apple-system,"Segoe UI",\
Roboto,sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:20px;margin:4px 0}.subtitle{margin:0 0 8px;color:var(--muted)}
#crumbs{margin:6px 0;font-size:14px}#crumbs a{color:#1a5fb4;cursor:pointer;text-decoration:underline}
#crumbs span.sep{color:var(--muted);margin:0 4px}
#legend{display:flex;flex-wrap:wrap;gap:4px 14px;margin:6px 0 10px}
#legend .k{display:inline-flex;align-items:center;gap:5px;white-space:nowrap}
.sw{display:inline-block;width:12px;height:12px;border:1px solid rgba(0,0,0,.25);border-radius:2px;\
vertical-align:-2px}
#panels{display:flex;gap:16px;align-items:flex-start}
.panel{flex:1 1 0;min-width:0}.panel h2{font-size:14px;margin:0 0 4px;font-weight:600}
.panel h2 small{font-weight:400;color:var(--muted)}
.panel svg{display:block;width:100%;height:auto;background:#fafbfc;border:1px solid var(--line)}
.panel .empty{padding:40px 10px;color:var(--muted);text-align:center;border:1px dashed var(--line)}
svg .tile{stroke:#fff;stroke-width:.5px;cursor:pointer}svg .dir{fill:var(--dir);stroke:#9aa5ad;stroke-width:.6px}
svg .tile:hover{stroke:#000;stroke-width:1.5px}
svg text{font-size:11px;fill:#111;pointer-events:none}svg text.dl{font-weight:600;fill:#333}
#tip{position:fixed;z-index:10;max-width:560px;padding:6px 8px;background:#222;color:#fff;border-radius:4px;\
font-size:12px;pointer-events:none;word-break:break-all;box-shadow:0 2px 8px rgba(0,0,0,.3)}
#tip b{font-weight:600}#tip .n{color:#ddd}
#facts{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0;align-items:flex-start}
.facts{border:1px solid var(--line);border-radius:6px;padding:6px 10px;min-width:260px}
.facts h3{margin:2px 0 6px;font-size:14px}.facts th{text-align:left;font-weight:400;color:var(--muted);\
padding-right:12px;vertical-align:top}.facts td{font-variant-numeric:tabular-nums}.facts tr.alert td{color:#c01c28;\
font-weight:600}
.tablebar{display:flex;gap:12px;align-items:center;margin:8px 0}#search{width:360px;max-width:100%;padding:5px 8px;\
font:inherit}
#rowcount{color:var(--muted)}
#table{border-collapse:collapse;width:100%;font-size:12px}
#table th{position:sticky;top:0;background:#f3f5f6;text-align:left;cursor:pointer;user-select:none;\
border-bottom:1px solid var(--line);padding:4px 6px;white-space:nowrap}
#table td{border-bottom:1px solid #eceff1;padding:3px 6px;vertical-align:top}
#table td.num,#table th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
#table td.path{word-break:break-all}#table th.sorted::after{content:" \\25BE"}#table th.sorted.asc::after{\
content:" \\25B4"}
#more{margin:8px 0;padding:4px 12px;font:inherit}
"""

# The script: builds the tree from the compact data, lays out the directory on screen (squarified), draws one
# SVG per panel, zooms on click, shows a tooltip on hover and renders the table in pages of rows.
_SCRIPT = r"""
(function () {
"use strict";
var D = JSON.parse(document.getElementById("treemap-data").textContent);
var S = D.strings, K = D.keys, P = D.panels, C = D.columns, NP = P.length;
var W = 1000, H = 620, HEADER = 15, PAD = 2, MIN_AREA = 3;

function esc(s) {
  return String(s).replace(/[&<>"]/g, function (c) {
    return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c];
  });
}
function human(n) {
  var sign = n < 0 ? "-" : ""; n = Math.abs(n);
  if (n < 1000) return sign + n + " B";
  var units = [["kB", 1e3], ["MB", 1e6], ["GB", 1e9], ["TB", 1e12]];
  for (var i = 0; i < units.length; i++) {
    var v = n / units[i][1];
    if (v < 999.5 || i === units.length - 1) {
      var t = v < 100 ? String(Number(v.toPrecision(3))) : String(Math.round(v));
      return sign + t + " " + units[i][0];
    }
  }
}
function zeros() { var a = new Array(NP); for (var i = 0; i < NP; i++) a[i] = 0; return a; }

// ---- the tree: directories, then one leaf per tile of each item ----
var nodes = [];
function node(name, parent, dir) {
  var n = {id: nodes.length, name: name, parent: parent, dir: dir, children: dir ? [] : null, size: zeros(),
           key: null, item: -1, depth: parent ? parent.depth + 1 : 0, keys: null};
  nodes.push(n);
  if (parent) parent.children.push(n);
  return n;
}
var dirNodes = new Array(D.dirs.length);
for (var d = 0; d < D.dirs.length; d++) {
  var row = D.dirs[d];
  dirNodes[d] = node(row[1], row[0] < 0 ? null : dirNodes[row[0]], true);
}
var root = dirNodes[0];
var items = D.items.map(function (r, index) {
  var tiles = r.slice(3, 3 + NP), count = 0, p;
  for (p = 0; p < NP; p++) count = Math.max(count, tiles[p].length / 2);
  var it = {index: index, dir: dirNodes[r[0]], name: r[1], note: S[r[2]], tiles: tiles,
            cells: r.slice(3 + NP), size: zeros(), key: -1, path: null, hay: null};
  for (var j = 0; j < count; j++) {
    var leaf = node(r[1], it.dir, false), first = -1;
    leaf.item = index; leaf.key = new Array(NP);
    for (p = 0; p < NP; p++) {
      if (2 * j < tiles[p].length) {
        leaf.size[p] = tiles[p][2 * j]; leaf.key[p] = tiles[p][2 * j + 1];
        it.size[p] += leaf.size[p];
        if (first < 0) first = leaf.key[p];
      } else leaf.key[p] = -1;
    }
    if (j > 0 && first >= 0) leaf.name = r[1] + " (" + K[first][0] + ")";
    if (it.key < 0) it.key = first;
  }
  return it;
});
// sizes and bytes per key, summed up the tree
for (var i = nodes.length - 1; i >= 0; i--) {
  var n = nodes[i];
  if (n.dir || !n.parent) continue;
  for (var a = n.parent; a; a = a.parent) {
    if (!a.keys) { a.keys = []; for (var q = 0; q < NP; q++) a.keys.push({}); }
    for (var pp = 0; pp < NP; pp++) {
      if (n.size[pp] > 0) {
        a.size[pp] += n.size[pp];
        a.keys[pp][n.key[pp]] = (a.keys[pp][n.key[pp]] || 0) + n.size[pp];
      }
    }
  }
}
function dominant(n, p) {
  if (!n.dir) return n.key[p];
  var best = -1, most = -1, k = n.keys ? n.keys[p] : {};
  for (var key in k) if (k[key] > most) { most = k[key]; best = +key; }
  return best;
}
function pathOf(n) {
  var parts = [];
  for (var a = n; a && a.parent; a = a.parent) parts.push(a.name);
  return parts.reverse().join("/");
}
items.forEach(function (it) {
  var base = pathOf(it.dir);
  it.path = base ? base + "/" + it.name : it.name;
});

// ---- squarified layout (Bruls, Huizing, van Wijk 2000) ----
function worst(sum, min, max, side) {
  var s2 = sum * sum, w2 = side * side;
  return Math.max(w2 * max / s2, s2 / (w2 * min));
}
function squarify(kids, p, x, y, w, h, out) {
  var total = 0, i;
  for (i = 0; i < kids.length; i++) total += kids[i].size[p];
  if (total <= 0 || w <= 0 || h <= 0) return;
  var scale = w * h / total;
  i = 0;
  while (i < kids.length) {
    var side = Math.min(w, h), first = kids[i].size[p] * scale;
    var sum = first, min = first, max = first, ratio = worst(sum, min, max, side), j = i + 1;
    while (j < kids.length) {
      var area = kids[j].size[p] * scale, next = worst(sum + area, Math.min(min, area), max, side);
      if (next > ratio) break;
      sum += area; min = Math.min(min, area); ratio = next; j++;
    }
    var k, at;
    if (w >= h) {
      var cw = j === kids.length ? w : sum / h;
      for (k = i, at = y; k < j; k++) {
        var hh = kids[k].size[p] * scale / cw;
        out.push([kids[k], x, at, cw, k === j - 1 ? y + h - at : hh]); at += hh;
      }
      x += cw; w -= cw;
    } else {
      var rh = j === kids.length ? h : sum / w;
      for (k = i, at = x; k < j; k++) {
        var ww = kids[k].size[p] * scale / rh;
        out.push([kids[k], at, y, k === j - 1 ? x + w - at : ww, rh]); at += ww;
      }
      y += rh; h -= rh;
    }
    i = j;
  }
}
function sortedKids(n, p) {
  return n.children.filter(function (c) { return c.size[p] > 0; })
    .sort(function (a, b) { return b.size[p] - a.size[p] || (a.name < b.name ? -1 : 1); });
}
function colour(k) { return k >= 0 ? K[k][1] : "#ccc"; }
function label(text, x, y, w, cls) {
  var fits = Math.floor((w - 6) / 6.3);
  if (fits < 3) return "";
  if (text.length > fits) text = text.slice(0, fits - 1) + "\u2026";
  return '<text x="' + (x + 3).toFixed(1) + '" y="' + (y + 11).toFixed(1) + '"' + (cls ? ' class="' + cls + '"' : "") +
    ">" + esc(text) + "</text>";
}
function rect(n, x, y, w, h, cls, fill, rel) {
  return '<rect class="' + cls + '" data-n="' + n.id + '" data-depth="' + rel + '" x="' + x.toFixed(2) + '" y="' +
    y.toFixed(2) + '" width="' + Math.max(w, 0.3).toFixed(2) + '" height="' + Math.max(h, 0.3).toFixed(2) + '"' +
    (fill ? ' fill="' + fill + '"' : "") + "/>";
}
function draw(n, p, x, y, w, h, rel, out) {
  if (rel > 1 && w * h < MIN_AREA) return;
  if (!n.dir) {
    out.push(rect(n, x, y, w, h, "tile leaf", colour(n.key[p]), rel));
    if (w > 40 && h > 14) out.push(label(n.name, x, y, w, ""));
    return;
  }
  var header = rel > 0 && w > 50 && h > 34 ? HEADER : 0;
  if (rel > 0 && !header && w * h < 64) {  // too small to show inside: the colour of its largest key
    out.push(rect(n, x, y, w, h, "tile dir small", colour(dominant(n, p)), rel));
    return;
  }
  if (rel > 0) out.push(rect(n, x, y, w, h, "tile dir", "", rel));
  if (header) out.push(label(n.name + "/  " + human(n.size[p]), x, y, w, "dl"));
  var pad = rel > 0 ? (header ? PAD : 0.5) : 0, placed = [];
  squarify(sortedKids(n, p), p, x + pad, y + (header || pad), w - 2 * pad, h - (header || pad) - pad, placed);
  for (var i = 0; i < placed.length; i++) {
    var c = placed[i];
    draw(c[0], p, c[1], c[2], c[3], c[4], rel + 1, out);
  }
}

// ---- page state ----
var zoom = root;
if (root.children.length === 1 && root.children[0].dir) zoom = root.children[0];
var panelsEl = document.getElementById("panels"), tip = document.getElementById("tip");

function renderTreemap() {
  var max = 0, p, html = [];
  for (p = 0; p < NP; p++) max = Math.max(max, zoom.size[p]);
  for (p = 0; p < NP; p++) {
    var t = zoom.size[p], head = "<h2>" + esc(P[p]) + " <small>" + human(t);
    if (p > 0 && zoom.size[0] > 0) {
      var change = (t - zoom.size[0]) / zoom.size[0] * 100;
      head += " (" + (change > 0 ? "+" : "") + change.toFixed(1) + "%)";
    }
    head += "</small></h2>";
    if (t <= 0) {
      html.push('<div class="panel" data-panel="' + p + '">' + head + '<div class="empty">nothing here</div></div>');
      continue;
    }
    var s = Math.sqrt(t / max), out = [];
    draw(zoom, p, 0, 0, W * s, H * s, 0, out);
    html.push('<div class="panel" data-panel="' + p + '">' + head + '<svg viewBox="0 0 ' + W + " " + H +
      '" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="' + esc(P[p]) + '">' + out.join("") +
      "</svg></div>");
  }
  panelsEl.innerHTML = html.join("");
}
function renderCrumbs() {
  var chain = [];
  for (var a = zoom; a; a = a.parent) chain.unshift(a);
  document.getElementById("crumbs").innerHTML = chain.map(function (n, i) {
    var text = esc(n.name);
    return i === chain.length - 1 ? "<b>" + text + "</b>" : '<a data-n="' + n.id + '">' + text + "</a>";
  }).join('<span class="sep">/</span>');
}
function renderLegend() {
  var used = {}, p, k;
  for (p = 0; p < NP; p++) {
    if (zoom.keys) for (k in zoom.keys[p]) (used[k] = used[k] || []).push([p, zoom.keys[p][k]]);
  }
  document.getElementById("legend").innerHTML = K.map(function (key, i) {
    if (!used[i]) return "";
    var sizes = used[i].map(function (e) { return P[e[0]] + " " + human(e[1]); }).join(", ");
    return '<span class="k" title="' + esc(sizes) + '"><span class="sw" style="background:' + key[1] + '"></span>' +
      esc(key[0]) + "</span>";
  }).join("");
}
function setZoom(n) {
  zoom = n; tip.hidden = true;
  renderCrumbs(); renderLegend(); renderTreemap(); limit = PAGE; renderTable();
}
document.getElementById("crumbs").addEventListener("click", function (e) {
  var a = e.target.closest("a[data-n]");
  if (a) setZoom(nodes[+a.getAttribute("data-n")]);
});
panelsEl.addEventListener("click", function (e) {
  var r = e.target.closest("[data-n]");
  if (!r) return;
  var n = nodes[+r.getAttribute("data-n")];
  while (n && n.parent !== zoom) n = n.parent;  // one level down, towards what was clicked
  if (n && n.dir) setZoom(n);
});
panelsEl.addEventListener("mousemove", function (e) {
  var r = e.target.closest("[data-n]");
  if (!r) { tip.hidden = true; return; }
  var n = nodes[+r.getAttribute("data-n")], lines = ["<b>" + esc(pathOf(n) + (n.dir ? "/" : "")) + "</b>"];
  for (var p = 0; p < NP; p++) {
    var share = zoom.size[p] > 0 ? " \u00b7 " + (n.size[p] / zoom.size[p] * 100).toFixed(1) + "% of view" : "";
    var k = n.dir ? "" : n.key[p] >= 0 ? " \u00b7 " + esc(K[n.key[p]][0]) : "";
    lines.push(esc(P[p]) + ": " + human(n.size[p]) + (n.size[p] > 0 ? share + k : ""));
  }
  if (n.dir) lines.push(n.children.length + " entries \u00b7 click to zoom in");
  else if (items[n.item].note) lines.push('<span class="n">' + esc(items[n.item].note) + "</span>");
  tip.innerHTML = lines.join("<br>"); tip.hidden = false;
  var x = e.clientX + 14, y = e.clientY + 14, bw = tip.offsetWidth, bh = tip.offsetHeight;
  if (x + bw > window.innerWidth) x = Math.max(0, e.clientX - bw - 10);
  if (y + bh > window.innerHeight) y = Math.max(0, e.clientY - bh - 10);
  tip.style.left = x + "px"; tip.style.top = y + "px";
});
panelsEl.addEventListener("mouseleave", function () { tip.hidden = true; });

// ---- the table: every item under the zoomed directory, filtered and sorted, rendered a page at a time ----
var PAGE = 300, limit = PAGE, sortCol = 1, sortAsc = false;
var search = document.getElementById("search"), tbody = document.querySelector("#table tbody");
var heads = ["path"].concat(P).concat(C.map(function (c) { return c[0]; })).concat([D.noteTitle]);
var numeric = heads.map(function (_, i) {
  return i > 0 && (i <= NP || (i <= NP + C.length && C[i - NP - 1][1] !== "text"));
});
function value(it, col) {
  if (col === 0) return it.path;
  if (col <= NP) return it.size[col - 1];
  if (col <= NP + C.length) return C[col - NP - 1][1] === "text" ? S[it.cells[col - NP - 1]] : it.cells[col - NP - 1];
  return it.note;
}
function hay(it) {
  if (it.hay === null) {
    var parts = [it.path, it.note];
    for (var c = 0; c < C.length; c++) if (C[c][1] === "text") parts.push(S[it.cells[c]]);
    it.hay = parts.join("\n").toLowerCase();
  }
  return it.hay;
}
document.querySelector("#table thead").innerHTML = "<tr>" + heads.map(function (h, i) {
  return '<th data-col="' + i + '"' + (numeric[i] ? ' class="num"' : "") + ">" + esc(h) + "</th>";
}).join("") + "</tr>";
document.querySelector("#table thead").addEventListener("click", function (e) {
  var th = e.target.closest("th[data-col]");
  if (!th) return;
  var col = +th.getAttribute("data-col");
  if (col === sortCol) sortAsc = !sortAsc; else { sortCol = col; sortAsc = !numeric[col]; }
  limit = PAGE; renderTable();
});
function under(it) {
  if (zoom === root) return true;
  for (var a = it.dir; a; a = a.parent) if (a === zoom) return true;
  return false;
}
function renderTable() {
  var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
  var rows = items.filter(function (it) {
    if (!under(it)) return false;
    for (var w = 0; w < words.length; w++) if (hay(it).indexOf(words[w]) < 0) return false;
    return true;
  });
  var col = sortCol, dir = sortAsc ? 1 : -1, num = numeric[col];
  rows.sort(function (a, b) {
    var x = value(a, col), y = value(b, col);
    var c = num ? x - y : x < y ? -1 : x > y ? 1 : 0;
    return c * dir || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  });
  var shown = rows.slice(0, limit), html = [];
  for (var i = 0; i < shown.length; i++) {
    var it = shown[i], cells = ['<td class="path"><span class="sw" style="background:' + colour(it.key) +
      '"></span> ' + esc(it.path) + "</td>"];
    for (var c = 1; c < heads.length; c++) {
      var v = value(it, c);
      var kind = c <= NP ? "bytes" : c <= NP + C.length ? C[c - NP - 1][1] : "text";
      cells.push(numeric[c] ? '<td class="num">' + (kind === "bytes" ? human(v) : v) + "</td>"
                            : "<td>" + esc(v) + "</td>");
    }
    html.push("<tr data-item=\"" + it.index + '">' + cells.join("") + "</tr>");
  }
  tbody.innerHTML = html.join("");
  document.querySelectorAll("#table th").forEach(function (th) {
    var on = +th.getAttribute("data-col") === sortCol;
    th.classList.toggle("sorted", on); th.classList.toggle("asc", on && sortAsc);
  });
  var where = zoom === root ? "" : " under " + pathOf(zoom) + "/";
  document.getElementById("rowcount").textContent = "showing " + shown.length + " of " + rows.length + " files" +
    where + (words.length ? " matching \u201c" + search.value.trim() + "\u201d" : "");
  var more = document.getElementById("more");
  more.hidden = rows.length <= limit;
  more.textContent = "show " + Math.min(1000, rows.length - limit) + " more";
}
document.getElementById("more").addEventListener("click", function () { limit += 1000; renderTable(); });
search.addEventListener("input", function () { limit = PAGE; renderTable(); });

setZoom(zoom);
window.slimwheelTreemap = {nodes: nodes, items: items, zoom: function () { return pathOf(zoom); },
  renderedMs: performance.now()};
document.body.setAttribute("data-ready", "1");
requestAnimationFrame(function () {  // the first frame with the treemap drawn
  setTimeout(function () {
    window.slimwheelTreemap.paintedMs = performance.now();
    document.body.setAttribute("data-painted", "1");
  }, 0);
});
})();
"""
