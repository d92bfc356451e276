#!/usr/bin/env python3
"""Checks a Grafana dashboard JSON for what Grafana itself does not check on
import, and hands its PromQL to promtool.

  check-dashboard.py DASHBOARD.json RULES_OUT.yml

Checks: valid JSON; a Prometheus datasource variable that every panel, target
and query variable uses; unique panel ids; panels inside the 24-column grid and
not overlapping; unique refIds per panel; only defined or built-in variables in
the queries. Then writes every query, with Grafana's variables replaced by
plain values, as a recording rule to RULES_OUT.yml, so that
`promtool check rules RULES_OUT.yml` parses each one (scripts/check-deploy.sh).
Exits 1 with one line per problem.
"""

import json
import re
import sys

# Grafana's own variables: time ranges and intervals.
BUILTIN_INTERVALS = ("__rate_interval", "__interval", "__range")
DATASOURCE_UIDS = ("${datasource}", "$datasource")
PANEL_TYPES = {"row", "stat", "timeseries", "table", "state-timeline", "bargauge", "gauge", "text"}
VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")


def all_panels(panels):
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


def promql(expr, variables):
    """The query with Grafana's variables replaced: intervals by 5m, and the
    dashboard's own variables (used in regex matchers) by `.+`."""

    def replace(match):
        name = match.group(1) or match.group(2)
        if name in BUILTIN_INTERVALS:
            return "5m"
        if name in variables:
            return ".+"
        raise KeyError(name)

    return VARIABLE.sub(replace, expr)


def check(dashboard):
    problems = []
    for key, kind in (("title", str), ("uid", str), ("schemaVersion", int), ("panels", list)):
        if not isinstance(dashboard.get(key), kind):
            problems.append(f"top level: {key} missing or not a {kind.__name__}")
    variables = {v.get("name"): v for v in dashboard.get("templating", {}).get("list", [])}
    source = variables.get("datasource", {})
    if source.get("type") != "datasource" or source.get("query") != "prometheus":
        problems.append("templating: no Prometheus datasource variable named datasource")
    for name, variable in variables.items():
        if variable.get("type") == "query" and variable.get("datasource", {}).get("uid") not in DATASOURCE_UIDS:
            problems.append(f"variable {name}: does not query the datasource variable")

    ids = set()
    cells = {}
    rules = []
    for panel in all_panels(dashboard.get("panels", [])):
        title = panel.get("title", "(untitled)")
        where = f"panel {panel.get('id')} {title!r}"
        if panel.get("id") in ids or not isinstance(panel.get("id"), int):
            problems.append(f"{where}: id missing or used twice")
        ids.add(panel.get("id"))
        if panel.get("type") not in PANEL_TYPES:
            problems.append(f"{where}: unknown panel type {panel.get('type')!r}")
        grid = panel.get("gridPos", {})
        if not all(isinstance(grid.get(k), int) for k in "hwxy"):
            problems.append(f"{where}: gridPos needs integer h, w, x, y")
            continue
        if grid["x"] < 0 or grid["w"] < 1 or grid["x"] + grid["w"] > 24 or grid["h"] < 1:
            problems.append(f"{where}: outside the 24-column grid: {grid}")
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                if (x, y) in cells:
                    problems.append(f"{where}: overlaps {cells[(x, y)]}")
                    break
                cells[(x, y)] = where
            else:
                continue
            break
        if panel.get("type") == "row":
            continue
        if panel.get("datasource", {}).get("uid") not in DATASOURCE_UIDS:
            problems.append(f"{where}: does not use the datasource variable")
        targets = panel.get("targets", [])
        if not targets and panel.get("type") != "text":
            problems.append(f"{where}: no queries")
        refs = set()
        for target in targets:
            ref = target.get("refId")
            if not ref or ref in refs:
                problems.append(f"{where}: refId {ref!r} missing or used twice")
            refs.add(ref)
            if target.get("datasource", {}).get("uid") not in DATASOURCE_UIDS:
                problems.append(f"{where} {ref}: does not use the datasource variable")
            expr = target.get("expr", "")
            if not expr.strip():
                problems.append(f"{where} {ref}: empty query")
                continue
            try:
                query = promql(expr, variables)
            except KeyError as e:
                problems.append(f"{where} {ref}: undefined variable ${e.args[0]}")
                continue
            rules.append({"record": f"dashboard:panel_{panel['id']}_{ref}", "expr": query})
    return problems, rules


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    path, rules_out = sys.argv[1], sys.argv[2]
    try:
        with open(path) as f:
            dashboard = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        sys.exit(f"{path}: {e}")
    problems, rules = check(dashboard)
    for problem in problems:
        print(f"{path}: {problem}", file=sys.stderr)
    # JSON is YAML: promtool reads this as a rule file.
    with open(rules_out, "w") as f:
        json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, f, indent=2)
    print(f"{path}: {len(rules)} queries in {sum(1 for _ in all_panels(dashboard['panels']))} panels")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
