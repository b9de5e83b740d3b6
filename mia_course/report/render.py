"""The report as files: ``report.html`` (self-contained: figures as base64 PNG, inline style, no
script and no outside request), ``report.md`` (the same text; figures as PNG files beside it) and
``report.json`` (every number).

Introduced in notebooks/07_audit_your_own_model.ipynb.
"""
import base64
import html
import io
import json
import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from mia_course.plots import plot_roc_curves, plot_score_histograms
from mia_course.report.text import pct

STYLE = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222;"
         "line-height:1.45}table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;"
         "padding:.2rem .5rem;text-align:right}th{background:#f3f3f3}td:first-child{text-align:left}"
         ".lead{font-size:1.1rem;background:#fff6e5;border-left:4px solid #E69F00;padding:.5rem 1rem}"
         "img{max-width:100%}")


def figures(report: object) -> dict[str, bytes]:
    """PNG bytes of the log-log ROC of every attack (95% Clopper-Pearson bands, cut where fewer
    than 10 false positives are possible) and of the strongest attack's score histograms.

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    is_member, out = report.data.is_member, {}
    fig = Figure(figsize=(6, 5), dpi=90)
    plot_roc_curves({k: (is_member, s) for k, s in report.scores.items()}, ax=fig.subplots(),
                    title="Membership inference ROC (log-log)")
    out["roc.png"] = _png(fig)
    fig = Figure(figsize=(6, 3.2), dpi=90)
    plot_score_histograms(is_member, report.scores[report.strongest], ax=fig.subplots(),
                          title=f"{report.strongest}: scores", xlabel="score (higher = more likely a member)")
    out["scores.png"] = _png(fig)
    return out


def _png(fig):
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _rate(v):
    if not v["resolvable"]:
        return f"not resolvable ({v['false_positives_possible']:.1f} false positives possible)"
    return f"{pct(v['tpr'])} [{pct(v['ci95'][0])}, {pct(v['ci95'][1])}]"


def sections(r: dict) -> list[tuple[str, list]]:
    """The report as ``(heading, blocks)``; a block is a paragraph (str), a bullet list
    (``("ul", items)``), a table (``("table", header, rows)``) or a figure (``("img", name, alt)``).

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    s, fprs = r["statements"], list(r["tpr_at_fpr"])
    headline = ("table", ["attack", "AUC"] + [f"TPR at {pct(float(f))} FPR [95% CI]" for f in fprs],
                [[name] + [f"{a['auc']:.3f}"] + [_rate(a["tpr_at_fpr"][f]) for f in fprs]
                 for name, a in r["attacks"].items()])
    p, acc = r["precision_at_prior"], r["accuracy"]
    summary = ("table", ["quantity", "value"], [
        ["AUC (strongest attack)", f"{r['auc']:.3f}"],
        *[[f"TPR at {pct(float(f))} FPR", _rate(r["tpr_at_fpr"][f])] for f in fprs],
        [f"precision at prior {p['prior']:g} ({pct(p['fpr'])} FPR)",
         f"{pct(p['precision'])} [{pct(p['ci95'][0])}, {pct(p['ci95'][1])}]"],
        ["train accuracy", pct(acc["train"])], ["held-out accuracy", pct(acc["heldout"])],
        ["gap (points)", f"{100 * acc['gap']:.1f}"]])
    cls = ("table", ["class", "members", "non-members", "AUC", f"TPR at {pct(r['operating_fpr'])} FPR [95% CI]", "FPR"],
           [[c, v["n_members"], v["n_non_members"], "–" if v["auc"] is None else f"{v['auc']:.3f}",
             "–" if v["tpr"] is None else f"{pct(v['tpr'])} [{pct(v['tpr_ci95'][0])}, {pct(v['tpr_ci95'][1])}]",
             "–" if v["fpr"] is None else pct(v["fpr"])] for c, v in r["per_class"].items()])
    top = r["exposure"]["top"]
    shown = _shown_features(r)
    exposed = ("table", ["rank", "row of TRAIN", "score", "flagged", "label", "predicted", "rare values"] + shown,
               [[k + 1, e["row"], f"{e['score']:.3g}", "yes" if e["flagged"] else "no", e["label"], e["predicted"],
                 ", ".join(e["rare"]) or "–"] + [f"{e['features'][n]:.4g}" for n in shown]
                for k, e in enumerate(top)])
    return [
        ("Summary", [("lead", " ".join(s["plain_language"][:2])), summary, *s["plain_language"][2:]]),
        ("Threat model", [("ul", s["threat_model"]), s["choice"]]),
        ("Attacks", [headline, ("img", "roc.png", "log-log ROC of every attack with 95% Clopper-Pearson bands"),
                     ("img", "scores.png", "score histograms of members and non-members")]),
        ("The most exposed records", [*s["exposure"], exposed]),
        ("Per class", [cls]),
        ("Differential privacy", [s["dp"]]),
        ("What this report cannot say", [("ul", s["cannot_say"])]),
        ("Notes", [("ul", r["notes"] + [f"Time: {r['seconds']['total']:.1f} s."])]),
    ]


def _shown_features(r, k=6):
    """Up to ``k`` features: those that set flagged rows apart, then those with rare values."""
    names = [x["feature"] for x in r["exposure"]["flagged"].get("features_apart", [])]
    for e in r["exposure"]["top"]:
        names += [n for n in e["rare"] if n not in names]
    return (names or r["data"]["feature_names"])[:k]


def to_html(r: dict, figs: dict[str, bytes]) -> str:
    """The self-contained HTML page: inline style, figures as ``data:`` URIs, no script.

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    e = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>Privacy risk report: {e(r['model'])}</title><style>{STYLE}</style></head><body>",
             f"<h1>Privacy risk report: {e(r['model'])}</h1>"]
    for heading, blocks in sections(r):
        parts.append(f"<h2>{e(heading)}</h2>")
        for b in blocks:
            if isinstance(b, str):
                parts.append(f"<p>{e(b)}</p>")
            elif b[0] == "lead":
                parts.append(f'<p class="lead">{e(b[1])}</p>')
            elif b[0] == "ul":
                parts.append("<ul>" + "".join(f"<li>{e(x)}</li>" for x in b[1]) + "</ul>")
            elif b[0] == "table":
                parts.append("<table><tr>" + "".join(f"<th>{e(str(h))}</th>" for h in b[1]) + "</tr>"
                             + "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>"
                                       for row in b[2]) + "</table>")
            elif b[0] == "img":
                data = base64.b64encode(figs[b[1]]).decode()
                parts.append(f'<p><img src="data:image/png;base64,{data}" alt="{e(b[2])}"></p>')
    parts.append("<p><small>Made by mia-course audit (lesson 07 of the mia-course course).</small></p></body></html>")
    return "\n".join(parts)


def to_markdown(r: dict) -> str:
    """The same report in Markdown; figures are linked as the PNG files written beside it.

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    lines = [f"# Privacy risk report: {r['model']}", ""]
    for heading, blocks in sections(r):
        lines += [f"## {heading}", ""]
        for b in blocks:
            if isinstance(b, str):
                lines += [b, ""]
            elif b[0] == "lead":
                lines += [f"**{b[1]}**", ""]
            elif b[0] == "ul":
                lines += [f"- {x}" for x in b[1]] + [""]
            elif b[0] == "table":
                lines += ["| " + " | ".join(map(str, b[1])) + " |", "|" + "---|" * len(b[1])]
                lines += ["| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in b[2]] + [""]
            elif b[0] == "img":
                lines += [f"![{b[2]}]({b[1]})", ""]
    return "\n".join(lines)


def write_report(report: object, out: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``report.html``, ``report.md``, ``report.json`` and the PNG figures into ``out``
    (created if needed); returns ``{name: path}``.

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out: {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    figs = report.figures or figures(report)
    report.figures = figs
    paths = {name: out / name for name in ("report.html", "report.md", "report.json", *figs)}
    paths["report.html"].write_text(to_html(report.numbers, figs), encoding="utf-8")
    paths["report.md"].write_text(to_markdown(report.numbers), encoding="utf-8")
    paths["report.json"].write_text(to_json(report.numbers), encoding="utf-8")
    for name, png in figs.items():
        paths[name].write_bytes(png)
    return paths


def to_json(numbers: dict) -> str:
    """``numbers`` as JSON (numpy scalars as numbers, NaN as null).

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    def plain(v):
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, float) and not np.isfinite(v):
            return None
        return v
    return json.dumps(plain(numbers), indent=1)
