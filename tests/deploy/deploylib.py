"""What the deploy tests share: where deploy/ lives, the Grafana dashboards'
queries (panels, annotations, variables) with their variables substituted, the
metric names a PromQL expression references, and the metric contract
(docs/metrics.md) plus the recording rules' names."""

import glob
import json
import os
import re

import yaml

SOURCE = os.environ.get(
    "LOOPCANARY_SOURCE", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
)
DEPLOY = os.path.join(SOURCE, "deploy")
DASHBOARDS = sorted(glob.glob(os.path.join(DEPLOY, "grafana", "dashboards", "*.json")))
RECORDING_RULES = os.path.join(DEPLOY, "prometheus", "recording-rules.yml")
ALERT_RULES = os.path.join(DEPLOY, "prometheus", "alert-rules.yml")
METRICS_DOC = os.path.join(SOURCE, "docs", "metrics.md")
RUNBOOK = os.path.join(SOURCE, "docs", "runbook.md")

# What Grafana would put in for its built-in variables: a 5s scrape interval
# (the lab's datasource timeInterval) makes $__rate_interval 4 x 5s.
GRAFANA_BUILTINS = {"__rate_interval": "20s", "__interval": "5s", "__range": "10m"}


def load_json(path):
    with open(path) as f:
        return json.load(f)


def load_yaml(path):
    with open(path) as f:
        return yaml.safe_load(f)


def all_panels(dashboard):
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def variable_query(variable):
    query = variable.get("query")
    if isinstance(query, dict):
        query = query.get("query", "")
    return query or ""


LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(?P<selector>.+?)\s*,\s*)?(?P<label>\w+)\s*\)\s*$")


def parse_label_values(query):
    """`label_values(selector, label)` -> (selector or None, label), else None."""
    m = LABEL_VALUES.match(query)
    return (m.group("selector"), m.group("label")) if m else None


def queries(dashboard):
    """Every PromQL query of a dashboard as dicts with `where` (for messages),
    `kind` (panel, annotation, variable), `expr` and, for variables, `label`.
    A label_values() variable yields its selector as `expr`."""
    out = []
    for panel in all_panels(dashboard):
        for target in panel.get("targets", []):
            if target.get("expr"):
                out.append({"where": f"panel {panel['id']} {panel.get('title')!r} ref {target.get('refId')}",
                            "kind": "panel", "expr": target["expr"]})
    for annotation in dashboard.get("annotations", {}).get("list", []):
        expr = annotation.get("expr") or annotation.get("target", {}).get("expr")
        if expr:
            out.append({"where": f"annotation {annotation.get('name')!r}", "kind": "annotation", "expr": expr})
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        parsed = parse_label_values(variable_query(variable))
        if parsed is None:
            out.append({"where": f"variable {variable['name']!r}", "kind": "variable",
                        "expr": variable_query(variable), "label": None, "name": variable["name"]})
        else:
            selector, label = parsed
            out.append({"where": f"variable {variable['name']!r}", "kind": "variable",
                        "expr": selector, "label": label, "name": variable["name"]})
    return out


def substitute(expr, values):
    """Replaces $var, ${var} and ${var:fmt} with values[var] (and Grafana's
    built-ins); unknown variables are left as they are."""
    merged = {**GRAFANA_BUILTINS, **values}

    def repl(m):
        name = m.group(1) or m.group(2)
        return merged.get(name, m.group(0))

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", repl, expr)


def regex_of(values):
    """The value Grafana substitutes for a multi-value variable in =~."""
    escaped = [re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\\\1", v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
             "unless", "offset", "inf", "nan", "atan2"}


def metric_names(expr):
    """The metric names a PromQL expression reads (not functions, keywords,
    label names or values)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", s):
        word = m.group(0)
        before = s[m.start() - 1] if m.start() else " "
        if before.isdigit() or before == ".":  # the exponent of 1e-9
            continue
        if s[m.end():].lstrip().startswith("("):
            continue
        if word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names


def documented_metrics():
    """{name: type} from the tables of docs/metrics.md."""
    metrics = {}
    with open(METRICS_DOC) as f:
        for line in f:
            m = re.match(r"\|\s*`(loopcanary_[a-z0-9_]+)(?:\{[^}]*\})?`\s*\|\s*(\w+)\s*\|", line)
            if m:
                metrics[m.group(1)] = m.group(2)
    return metrics


def recording_rules():
    """{record name: expr} of deploy/prometheus/recording-rules.yml."""
    rules = {}
    for group in load_yaml(RECORDING_RULES)["groups"]:
        for rule in group["rules"]:
            if "record" in rule:
                rules[rule["record"]] = rule["expr"]
    return rules


def alert_rules():
    """[rule] of deploy/prometheus/alert-rules.yml."""
    return [rule for group in load_yaml(ALERT_RULES)["groups"] for rule in group["rules"] if "alert" in rule]


def base_metric(name, documented):
    """A histogram's _bucket/_sum/_count series -> the documented family name."""
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and documented.get(name[: -len(suffix)]) == "histogram":
            return name[: -len(suffix)]
    return name
