# Copyright (c) runnerops.gitlab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a full sweep of benchmarks/fleet.py concludes: the targets met or not, the README's tables, the picture.

Everything here reads the results file only, so ``python benchmarks/report.py`` redraws from a finished sweep.
"""

from __future__ import annotations

import json
import re
from html import escape
from pathlib import Path

BENCH = Path(__file__).resolve().parent
README = BENCH / "README.md"
# The sweep's axes around the base point (N=10, M=5, K=0), as in fleet.SIZES["full"].
BASE_M, BASE_K = 5, 0
CONSTANT_CALLS = 2


def at(n, m, k):
    return f"N{n}-M{m}-K{k}"


def parse_key(point_key):
    n, m, k = (int(part) for part in re.fullmatch(r"N(\d+)-M(\d+)-K(\d+)", point_key).groups())
    return n, m, k


def run_of(data, point_key, family, run):
    return data["points"].get(point_key, {}).get(family, {}).get(run) or {}


def wall_ratio(data, point_key, run):
    role, template = run_of(data, point_key, "role", run), run_of(data, point_key, "template", run)
    if role.get("wall_s") and template.get("wall_s"):
        return role["wall_s"] / template["wall_s"]
    return None


def n_axis(data):
    """The hosts measured at the base M and K, smallest first."""
    return sorted(n for n, m, k in map(parse_key, data["points"]) if (m, k) == (BASE_M, BASE_K))


def m_axis(data, n):
    return sorted(m for n_, m, k in map(parse_key, data["points"]) if (n_, k) == (n, BASE_K))


def verdict(values, limit):
    """``(met, text)`` for ratios that must each stay at or under ``limit``; unmeasured points count as not met."""
    if not values or any(value is None for _label, value in values):
        return None, ", ".join(f"{label} not measured" for label, value in values if value is None) or "not measured"
    return all(value <= limit for _label, value in values), ", ".join(f"{label} {value:.2f}x" for label, value in values)


def targets(data):
    """Each target of benchmarks/README.md with what the sweep measured and whether it is met."""
    rows = []
    ns = n_axis(data)
    large = [n for n in ns if n >= 50]
    small = min(ns) if ns else 10

    met, text = verdict([(f"N={n}", wall_ratio(data, at(n, BASE_M, BASE_K), "rerun")) for n in large], 1.3)
    rows.append(("No-op rerun wall time at most 1.3x the template floor from N=50 up", text, met))
    met, text = verdict([(f"N={small}", wall_ratio(data, at(small, BASE_M, BASE_K), "rerun"))], 1.6)
    others = [(m, wall_ratio(data, at(small, m, BASE_K), "rerun")) for m in m_axis(data, small) if m != BASE_M]
    others += [(f"K={k}", wall_ratio(data, at(small, BASE_M, k), "rerun"))
               for n_, m, k in map(parse_key, data["points"]) if (n_, m) == (small, BASE_M) and k != BASE_K]
    if others:
        text += " (M=5, K=0; not targets: " + ", ".join(
            f"{label if isinstance(label, str) else f'M={label}'} {value:.2f}x" for label, value in others
            if value is not None) + ")"
    rows.append((f"No-op rerun wall time at most 1.6x the template floor at N={small}", text, met))
    met, text = verdict([(f"N={n}", wall_ratio(data, at(n, BASE_M, BASE_K), "first")) for n in large], 1.5)
    rows.append(("First converge wall time at most 1.5x the template floor from N=50 up", text, met))

    if len(ns) >= 2 and ns[-1] > ns[-2] >= 50:
        previous, last = ns[-2], ns[-1]
        parts, flat = [], True
        for run in ("first", "rerun"):
            before = run_of(data, at(previous, BASE_M, BASE_K), "role", run).get("wall_s")
            after = run_of(data, at(last, BASE_M, BASE_K), "role", run).get("wall_s")
            if not before or not after:
                parts.append(f"{run} not measured")
                flat = None
                continue
            growth = (after / last) / (before / previous)
            parts.append(f"{run} {before / previous:.2f} s/host at N={previous}, {after / last:.2f} at N={last} "
                         f"({growth - 1:+.0%})")
            flat = flat and growth <= 1.15 if flat is not None else None
        rows.append((f"Per-host cost flat: wall time / N at N={last} at most 15% over N={previous}, "
                     "first converge and rerun", "; ".join(parts), flat))
        memory = [(n, run_of(data, at(n, BASE_M, BASE_K), "role", "rerun").get("peak_tree_pss_mb")) for n in ns]
        memory = [(n, mb) for n, mb in memory if mb]
        if len(memory) >= 2 and memory[-1][0] == last:
            (n1, mb1), (n2, mb2) = memory[-2], memory[-1]
            linear = mb2 <= mb1 * n2 / n1
            rows.append((f"Peak memory of the ansible-playbook tree (summed PSS) at N={last}, growing at most "
                         "linearly with N", ", ".join(f"{mb:.0f} MB at N={n}" for n, mb in memory)
                         + f"; {(mb2 - mb1) / (n2 - n1) * 1024:.0f} kB per host from N={n1} to N={n2}", linear))
        else:
            rows.append((f"Peak memory of the ansible-playbook tree at N={last}", "not measured", None))

    writes, rerun_calls, first_calls = [], [], []
    for point_key in sorted(data["points"], key=parse_key):
        m = parse_key(point_key)[1]
        first, rerun = run_of(data, point_key, "role", "first"), run_of(data, point_key, "role", "rerun")
        if rerun:
            writes.append(rerun.get("writes") == 0)
            rerun_calls.append(rerun.get("calls", 10 ** 9) <= 2 * m + CONSTANT_CALLS)
        if first:
            first_calls.append(first.get("calls", 10 ** 9) <= 5 * m + CONSTANT_CALLS)
    rows.append(("No-op rerun: no write call", "at every point" if all(writes) else "a rerun wrote",
                 all(writes) if writes else None))
    rows.append(("No-op rerun: at most 2 + 2M API calls, whatever N and K",
                 "at every point" if all(rerun_calls) else "over budget at a point",
                 all(rerun_calls) if rerun_calls else None))
    rows.append(("First converge: at most 2 + 5M API calls, whatever N and K",
                 "at every point" if all(first_calls) else "over budget at a point",
                 all(first_calls) if first_calls else None))
    peer_points = [point_key for point_key in data["points"] if parse_key(point_key)[2] >= 2000]
    parts, met = [], None
    for point_key in peer_points:
        for run in ("first", "rerun"):
            ours, peer = run_of(data, point_key, "module", run).get("calls"), run_of(data, point_key, "peer", run).get(
                "calls")
            if ours and peer:
                parts.append(f"{run} {ours} against {peer} ({peer / ours:.1f}x)")
                met = (met is not False) and peer / ours >= 10
    rows.append(("At least 10x fewer API calls than community.general at K=2000", "; ".join(parts) or "not measured",
                 met))
    return [{"target": target, "result": result, "met": met} for target, result, met in rows]


def targets_markdown(rows):
    lines = ["| Target | Measured | |", "|---|---|---|"]
    for row in rows:
        state = {True: "met", False: "**not met**", None: "not measured"}[row["met"]]
        lines.append(f"| {row['target']} | {row['result']} | {state} |")
    return "\n".join(lines)


def replace_section(text, name, body):
    """Replace what lies between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->``."""
    pattern = re.compile(rf"(<!-- bench:{name} -->\n)(?:.*?\n)?(<!-- /bench:{name} -->)", re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"{README} has no <!-- bench:{name} --> section")
    return pattern.sub(lambda match: match.group(1) + body + "\n" + match.group(2), text)


def environment_line(data):
    env = data.get("environment", {})
    return (f"Full sweep, `make bench` on {env.get('cpus')} CPUs, Python {env.get('python')}, ansible-core "
            f"{env.get('ansible_core')}, python-gitlab {env.get('python_gitlab')}, community.general "
            f"{env.get('community_general')}, forks {env.get('forks')} (`results/full.json`).")


def steps_markdown(data, share=0.005):
    """The tasks of the role's no-op rerun at the largest N, costliest first, down to ``share`` of the run."""
    ns = n_axis(data)
    if not ns:
        return "No run measured."
    n = ns[-1]
    rerun, template = run_of(data, at(n, BASE_M, BASE_K), "role", "rerun"), run_of(
        data, at(n, BASE_M, BASE_K), "template", "rerun")
    if not rerun.get("tasks"):
        return f"No task timings at N={n}."
    wall = rerun["wall_s"]
    lines = [f"No-op rerun at N={n}, M={BASE_M}: {wall:.0f} s in all (template floor: "
             f"{template.get('wall_s', 0):.0f} s, of which "
             + ", ".join(f"{name.lower()} {seconds:.0f} s" for seconds, name in template.get("tasks") or ()) + ").",
             "", "| Step | Seconds | Per host | Share |", "|---|---|---|---|"]
    shown = [(seconds, name) for seconds, name in rerun["tasks"] if seconds >= wall * share]
    for seconds, name in shown:
        lines.append(f"| {name.split(' : ', 1)[-1]} | {seconds:.1f} | {seconds / n * 1000:.0f} ms | "
                     f"{seconds / wall:.0%} |")
    rest = sum(seconds for seconds, _name in rerun["tasks"]) - sum(seconds for seconds, _name in shown)
    lines.append(f"| {len(rerun['tasks']) - len(shown)} other steps, each under {share:.1%} | {rest:.1f} | "
                 f"{rest / n * 1000:.0f} ms | {rest / wall:.0%} |")
    return "\n".join(lines)


def update_readme(data, table_text, picture):
    text = README.read_text(encoding="utf-8")
    text = replace_section(text, "targets", targets_markdown(data["targets"]))
    text = replace_section(text, "steps", steps_markdown(data))
    figures = (f"{environment_line(data)}\n\n![Wall time against hosts, API calls against definitions]"
               f"({picture.relative_to(README.parent).as_posix()})\n\n```\n{table_text}\n```")
    text = replace_section(text, "figures", figures)
    README.write_text(text, encoding="utf-8")


def cell(value, width):
    if value is None:
        text = "-"
    elif isinstance(value, float):
        text = f"{value:.2f}" if value < 10 else f"{value:.1f}"
    else:
        text = str(value)
    return text.rjust(width)


# (header line 1, header line 2, width, value of a point)
COLUMNS = (
    ("", "point", 14, lambda key, get, summary: key),
    ("role", "1st calls", 9, lambda key, get, summary: get("role", "first", "calls")),
    ("role", "rerun calls", 11, lambda key, get, summary: get("role", "rerun", "calls")),
    ("rerun", "writes", 6, lambda key, get, summary: get("role", "rerun", "writes")),
    ("role", "1st s", 7, lambda key, get, summary: get("role", "first", "wall_s")),
    ("template", "1st s", 8, lambda key, get, summary: get("template", "first", "wall_s")),
    ("1st /", "template", 8, lambda key, get, summary: summary.get("first_wall_vs_template")),
    ("role", "rerun s", 7, lambda key, get, summary: get("role", "rerun", "wall_s")),
    ("template", "rerun s", 8, lambda key, get, summary: get("template", "rerun", "wall_s")),
    ("rerun /", "template", 8, lambda key, get, summary: summary.get("rerun_wall_vs_template")),
    ("role", "tree MB", 7, lambda key, get, summary: get("role", "rerun", "peak_tree_pss_mb")),
    ("template", "tree MB", 8, lambda key, get, summary: get("template", "rerun", "peak_tree_pss_mb")),
    ("module", "1st calls", 9, lambda key, get, summary: get("module", "first", "calls")),
    ("module", "rerun calls", 11, lambda key, get, summary: get("module", "rerun", "calls")),
    ("peer", "1st calls", 9, lambda key, get, summary: get("peer", "first", "calls")),
    ("peer", "rerun calls", 11, lambda key, get, summary: get("peer", "rerun", "calls")),
    ("module", "1st s", 7, lambda key, get, summary: get("module", "first", "wall_s")),
    ("peer", "1st s", 7, lambda key, get, summary: get("peer", "first", "wall_s")),
)


def table(data):
    """One line per point: the role, the template floor, and both modules."""
    lines = [" ".join(top.rjust(width) for top, _bottom, width, _value in COLUMNS),
             " ".join(bottom.rjust(width) for _top, bottom, width, _value in COLUMNS)]
    for point_key in sorted(data["points"], key=parse_key):
        point_data = data["points"][point_key]

        def get(family, run, field, point_data=point_data):
            return point_data.get(family, {}).get(run, {}).get(field)

        summary = point_data.get("summary", {})
        lines.append(" ".join(cell(value(point_key, get, summary), width) for _top, _bottom, width, value in COLUMNS))
    return "\n".join(lines)


# ---------------------------------------------------------------------- the picture

COLOURS = {"role": "#1f5fa8", "module": "#2e8b57", "template": "#7a7a7a", "peer": "#c2571a"}


def nice_ticks(top, count=5):
    """Round tick values from 0 to at least ``top``."""
    if top <= 0:
        return [0, 1]
    raw = top / count
    magnitude = 10 ** (len(str(int(raw))) - 1) if raw >= 1 else 1
    step = next(magnitude * factor for factor in (1, 2, 2.5, 5, 10) if magnitude * factor >= raw)
    ticks = [0]
    while ticks[-1] < top:
        ticks.append(ticks[-1] + step)
    return ticks


def panel(x0, y0, width, height, title, x_label, y_label, series, x_values, legend_shift=0.0):
    """One line chart as SVG elements; ``series``: ``[(label, colour, dashed, [(x, y)])]``."""
    x_top = max(x_values)
    y_top = nice_ticks(max((y for _l, _c, _d, points in series for _x, y in points), default=1))[-1]
    left, bottom = x0 + 56, y0 + height - 44
    plot_w, plot_h = width - 90, height - 84

    def sx(x):
        return left + plot_w * x / x_top

    def sy(y):
        return bottom - plot_h * y / y_top

    out = [f'<text x="{x0 + width / 2}" y="{y0 + 18}" text-anchor="middle" font-weight="bold">{escape(title)}</text>']
    for tick in nice_ticks(y_top):
        out.append(f'<line x1="{left}" y1="{sy(tick):.1f}" x2="{left + plot_w}" y2="{sy(tick):.1f}" '
                   'stroke="#e4e4e4"/>')
        out.append(f'<text x="{left - 6}" y="{sy(tick) + 4:.1f}" text-anchor="end">{tick:g}</text>')
    for x in x_values:
        out.append(f'<text x="{sx(x):.1f}" y="{bottom + 16}" text-anchor="middle">{x:g}</text>')
    out.append(f'<line x1="{left}" y1="{bottom}" x2="{left + plot_w}" y2="{bottom}" stroke="#333"/>')
    out.append(f'<line x1="{left}" y1="{bottom}" x2="{left}" y2="{bottom - plot_h}" stroke="#333"/>')
    out.append(f'<text x="{left + plot_w / 2}" y="{bottom + 34}" text-anchor="middle">{escape(x_label)}</text>')
    out.append(f'<text x="{x0 + 14}" y="{bottom - plot_h / 2}" text-anchor="middle" '
               f'transform="rotate(-90 {x0 + 14} {bottom - plot_h / 2})">{escape(y_label)}</text>')
    for index, (label, colour, dashed, points) in enumerate(series):
        if not points:
            continue
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        out.extend(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{colour}"/>' for x, y in points)
        legend_x, legend_y = left + 10 + plot_w * legend_shift, y0 + 36 + 16 * index
        out.append(f'<line x1="{legend_x}" y1="{legend_y}" x2="{legend_x + 24}" y2="{legend_y}" stroke="{colour}" '
                   f'stroke-width="2"{dash}/>')
        out.append(f'<text x="{legend_x + 30}" y="{legend_y + 4}">{escape(label)}</text>')
    return out


def picture(data, path):
    """Wall time against N (role and template floor) and API calls against M (role and community.general)."""
    ns = n_axis(data)

    def walls(family, run):
        return [(n, run_of(data, at(n, BASE_M, BASE_K), family, run).get("wall_s")) for n in ns
                if run_of(data, at(n, BASE_M, BASE_K), family, run).get("wall_s")]

    small = min(ns) if ns else 10
    ms = m_axis(data, small)

    def calls(family, run):
        return [(m, run_of(data, at(small, m, BASE_K), family, run).get("calls")) for m in ms
                if run_of(data, at(small, m, BASE_K), family, run).get("calls") is not None]

    # The peer lists every runner a group shows, so the most crowded GitLab of the sweep is drawn as a point.
    crowded = max((k for n, m, k in map(parse_key, data["points"]) if (n, m) == (small, BASE_M)), default=BASE_K)
    width, height = 980, 400
    body = panel(0, 0, width / 2, height, f"Wall time, M={BASE_M} shared runners", "hosts (N)", "seconds", [
        ("role, first run", COLOURS["role"], False, walls("role", "first")),
        ("role, no-op rerun", COLOURS["role"], True, walls("role", "rerun")),
        ("template floor, first run", COLOURS["template"], False, walls("template", "first")),
        ("template floor, rerun", COLOURS["template"], True, walls("template", "rerun")),
    ], ns or [1])
    crowded_calls = run_of(data, at(small, BASE_M, crowded), "peer", "first").get("calls")
    api_series = [
        ("role, first run", COLOURS["role"], False, calls("role", "first")),
        ("role, no-op rerun", COLOURS["role"], True, calls("role", "rerun")),
        ("gitlab_runner_create alone, first run", COLOURS["module"], False, calls("module", "first")),
        ("gitlab_runner_create alone, rerun", COLOURS["module"], True, calls("module", "rerun")),
        ("community.general, first run", COLOURS["peer"], False, calls("peer", "first")),
        ("community.general, rerun", COLOURS["peer"], True, calls("peer", "rerun")),
        (f"community.general, first run, K={crowded}", COLOURS["peer"], True,
         [(BASE_M, crowded_calls)] if crowded_calls is not None else []),
    ]
    body += panel(width / 2, 0, width / 2, height, f"GitLab API calls, N={small}, K={BASE_K}",
                  "shared runner definitions (M)", "API calls", api_series, ms or [1], legend_shift=0.3)
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">\n'
           f'<rect width="{width}" height="{height}" fill="white"/>\n' + "\n".join(body) + "\n</svg>\n")
    path.write_text(svg, encoding="utf-8")
    return path


def conclude(results, table_text):
    """Targets into the results file, then the picture beside it and the README's tables."""
    data = json.loads(results.read_text(encoding="utf-8"))
    data["targets"] = targets(data)
    results.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    drawn = picture(data, results.with_suffix(".svg"))
    update_readme(data, table_text, drawn)
    return data["targets"], drawn


if __name__ == "__main__":
    full = BENCH / "results" / "full.json"
    done, drawn = conclude(full, table(json.loads(full.read_text(encoding="utf-8"))))
    print(targets_markdown(done))
    print(f"\nPicture: {drawn}")
