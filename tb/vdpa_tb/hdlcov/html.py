# SPDX-License-Identifier: MIT
"""A small static HTML report of the merged code coverage: the per-module table with the waivers
(index.html) and each rtl/ source annotated line by line (files/<name>.html): hits of the
statement, branch arms and toggle bits hit, and what was missed, named."""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .db import CoverageDb, SourceLine
from .points import METRICS

STYLE = """body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}
td,th{border:1px solid #bbb;padding:2px 8px;text-align:left}th{background:#eee}
.num{text-align:right}.good{background:#cfc}.fair{background:#ffc}.poor{background:#fcc}
pre{margin:0}.src td{border:none;padding:0 6px;font-family:monospace;white-space:pre;
vertical-align:top}.src tr.hit td.code{background:#e6ffe6}.src tr.miss td.code{background:#ffd6d6}
.src tr.part td.code{background:#fff3c4}.src tr.waived td.code{background:#e4e4e4}
.src td.ln,.src td.cnt{color:#777;text-align:right}.src td.note{color:#a00;font-size:85%}
.warn{color:#a00}"""


def _cls(pct: float) -> str:
    return "good" if pct >= 95 else "fair" if pct >= 80 else "poor"


def figure_cell(f: Mapping[str, Any]) -> str:
    """A table cell: hit/total and percent, coloured by how close to closure."""
    return (f"<td class='num {_cls(f['percent'])}'>{f['hit']}/{f['total']} "
            f"({f['percent']:.2f} %)</td>")


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{STYLE}</style></head><body>{body}</body></html>\n")


def _file_page_name(file: str) -> str:
    return Path(file).name + ".html"


def _file_figures(db: CoverageDb, lines: Mapping[int, SourceLine]) -> dict[str, dict[str, Any]]:
    acc = {m: [0, 0] for m in METRICS}
    for sl in lines.values():
        if sl.executable and not sl.waived:
            acc["line"][0] += sl.hits > 0
            acc["line"][1] += 1
        for p in (*sl.branches, *sl.toggles):
            if p not in db.waived:
                acc[p.metric][0] += p.count > 0
                acc[p.metric][1] += 1
    return {m: {"hit": h, "total": t, "percent": round(100 * h / t, 2) if t else 100.0}
            for m, (h, t) in acc.items()}


def _source_page(db: CoverageDb, file: str, lines: Mapping[int, SourceLine], root: Path) -> str:
    e = html.escape
    src = root / file
    text = src.read_text(errors="replace").splitlines() if src.exists() else []
    figs = _file_figures(db, lines)
    rows = []
    for n in range(1, max([len(text), *lines]) + 1):
        sl = lines.get(n)
        code = e(text[n - 1]) if n <= len(text) else ""
        cls, cnt, notes = "", "", []
        if sl is not None:
            br = [p for p in sl.branches if p not in db.waived]
            tg = [p for p in sl.toggles if p not in db.waived]
            missed_br = [p.comment for p in br if not p.count]
            missed_tg = [p.comment for p in tg if not p.count]
            if sl.executable:
                cnt = str(sl.hits)
            if sl.waived:
                cls = "waived"
            elif sl.executable and not sl.hits:
                cls = "miss"
            elif missed_br or missed_tg:
                cls = "part" if sl.executable or len(missed_tg) < len(tg) else "miss"
            elif sl.executable or tg:
                cls = "hit"
            if br:
                notes.append(f"branch {len(br) - len(missed_br)}/{len(br)}"
                             + (f" missed: {', '.join(missed_br)}" if missed_br else ""))
            if tg:
                notes.append(f"toggle {len(tg) - len(missed_tg)}/{len(tg)}"
                             + (f" missed: {', '.join(missed_tg[:12])}"
                                + (f" (+{len(missed_tg) - 12})" if len(missed_tg) > 12 else "")
                                if missed_tg else ""))
            waived_here = [p for p in (*sl.branches, *sl.toggles) if p in db.waived]
            if sl.waived or waived_here:
                notes.append(f"waived: {'line ' if sl.waived else ''}"
                             f"{len(waived_here)} point(s)" if waived_here else "waived")
        rows.append(f"<tr class='{cls}'><td class='ln'>{n}</td><td class='cnt'>{cnt}</td>"
                    f"<td class='code'>{code}</td><td class='note'>{e('; '.join(notes))}</td></tr>")
    head = "".join(f"<th>{m}</th>" for m in METRICS)
    cells = "".join(figure_cell(figs[m]) for m in METRICS)
    body = (f"<p><a href='../index.html'>code coverage</a> / {e(file)}</p><h1>{e(file)}</h1>"
            f"<table><tr>{head}</tr><tr>{cells}</tr></table><p>Hits: how often the line's "
            "statement ran. Red: never ran, or every toggle bit missed; yellow: ran, but a "
            "branch arm or toggle bit was missed; grey: waived.</p>"
            f"<table class='src'>{''.join(rows)}</table>")
    return _page(f"{file} coverage", body)


def write(db: CoverageDb, summary: Mapping[str, Any], out: Path, root: Path,
          title: str = "vdpa-dv RTL code coverage") -> Path:
    """Write index.html and files/*.html under ``out``; return the index."""
    e = html.escape
    (out / "files").mkdir(parents=True, exist_ok=True)
    head = "<tr><th>module</th>" + "".join(f"<th>{m}</th>" for m in METRICS) + "</tr>"
    rows = [f"<tr><td>{e(mod)}</td>" + "".join(figure_cell(f[m]) for m in METRICS) + "</tr>"
            for mod, f in summary["modules"].items()]
    rows.append("<tr><th>overall</th>" + "".join(figure_cell(summary["overall"][m])
                                                 for m in METRICS) + "</tr>")
    rows.append("<tr><td>raw (no waivers)</td>" + "".join(figure_cell(summary["raw"][m])
                                                          for m in METRICS) + "</tr>")
    files = []
    for file, lines in sorted(db.files.items()):
        page = _file_page_name(file)
        (out / "files" / page).write_text(_source_page(db, file, lines, root))
        figs = _file_figures(db, lines)
        files.append(f"<tr><td><a href='files/{e(page)}'>{e(file)}</a></td>"
                     + "".join(figure_cell(figs[m]) for m in METRICS) + "</tr>")
    waivers = [f"<tr><td>{e(w['category'])}</td><td>{e(w['file'])}:{w['lines'][0]}"
               f"{'-' + str(w['lines'][1]) if w['lines'][1] and w['lines'][1] != w['lines'][0] else ''}"
               f"</td><td>{e(w['metric'])}:{e(w['pattern'])}</td><td class='num'>{w['removed']}"
               f"</td><td>{e(w['reason'])}"
               + (f"<pre>{e(chr(10).join(w['quote']))}</pre>" if w.get("quote") else "")
               + f"</td><td>{e(w['where'])}</td></tr>"
               for w in summary["waivers"]]
    unused = "".join(f"<p class='warn'>waiver {e(w)} matches no coverage point: review it "
                     "against the RTL</p>" for w in summary["unused_waivers"])
    unused += "".join(f"<p class='warn'>waiver {e(w['where'])} removes {w['removed_but_hit']} "
                      "line(s), arm(s) or fully toggled bit(s) a run reached: review it</p>"
                      for w in summary["waivers"] if w["removed_but_hit"])
    body = (f"<h1>{e(title)}</h1><p>Line: source lines with a statement, covered when it ran. "
            "Branch: each arm of if/else/case and ?:. Toggle: each bit of each signal, both "
            "directions. Points are merged per design unit over every instance and parameter "
            f"set. Waived lines and points leave the figures.</p><table>{head}{''.join(rows)}"
            f"</table><h2>Sources</h2><table><tr><th>file</th>"
            + "".join(f"<th>{m}</th>" for m in METRICS) + f"</tr>{''.join(files)}</table>"
            f"<h2>Waivers</h2><table><tr><th>category</th><th>where</th><th>metric:pattern</th>"
            f"<th>removed</th><th>reason</th><th>entry</th></tr>{''.join(waivers)}</table>{unused}"
            "<p>Machine-readable: <a href='summary.json'>summary.json</a>, "
            "<a href='cobertura.xml'>cobertura.xml</a> (line, branch), "
            "<a href='cobertura-toggle.xml'>cobertura-toggle.xml</a> (toggle), "
            "<a href='merged.dat'>merged.dat</a> (Verilator's format).</p>")
    index = out / "index.html"
    index.write_text(_page(title, body))
    return index
