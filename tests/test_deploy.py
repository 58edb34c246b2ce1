"""The operator material in deploy/: the Grafana dashboard and the Prometheus alerting
rules are well formed, complete, and query only metrics that a real keyturn server
exposes on /metrics."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support import ServerProcess

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
DASHBOARD = DEPLOY / "grafana" / "keyturn-dashboard.json"
ALERTS = DEPLOY / "prometheus" / "keyturn-alerts.yml"

DATASOURCE_UID = "${datasource}"
# What Grafana substitutes itself; a duration stands in for them when parsing.
GRAFANA_BUILTINS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "6h"}
# Series Prometheus records for every target; they are never in /metrics.
SYNTHETIC = frozenset({"up"})
# Labels Prometheus attaches to every series of a target, and the one that
# multi-worker mode adds to per-process series.
ATTACHED_LABELS = frozenset({"job", "instance", "pid"})
SEVERITIES = frozenset({"critical", "warning", "info"})

# The families the operator material is about: each must be charted, and the
# security-relevant ones must also be alerted on.
DASHBOARD_FAMILIES = frozenset(
    {
        "keyturn_http_request_duration_seconds",
        "keyturn_token_requests",
        "keyturn_invalid_grant",
        "keyturn_rate_limited",
        "keyturn_sign_in_failures",
        "keyturn_security_events",
        "keyturn_webhook_deliveries",
        "keyturn_db_pool_size",
        "keyturn_db_pool_in_use",
        "process_cpu_seconds",
        "process_resident_memory_bytes",
    }
)
ALERTED_FAMILIES = DASHBOARD_FAMILIES - {
    "keyturn_token_requests",
    "process_cpu_seconds",
    "process_resident_memory_bytes",
}

# The sample names a family of each type puts in the text format.
SAMPLE_SUFFIXES: dict[str, tuple[str, ...]] = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
    "untyped": ("",),
    "unknown": ("",),
}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_SELECTOR = re.compile(r"(?<![\w:])([A-Za-z_:][\w:]*)\s*\{([^}]*)\}")
_MATCHER_LABEL = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)")
_BRACES = re.compile(r"\{[^}]*\}")
_METRIC = re.compile(r"(?<![\w:])(keyturn_[\w:]+|process_[\w:]+|up)(?![\w:])(?!\s*\()")
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
_LABEL_VALUES = re.compile(r"^\s*label_values\((.*),\s*\w+\s*\)\s*$")
_VARIABLE = re.compile(r"\$\{?(\w+)\}?")
_LEGEND_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_TEMPLATE_LABEL = re.compile(r"\$labels\.(\w+)")
_DURATION = re.compile(r"^(?:\d+(?:ms|s|m|h|d|w|y))+$")


# -- reading the files --------------------------------------------------------


def load_dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dashboard


def load_rules() -> list[dict[str, Any]]:
    document: dict[str, Any] = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def panels_of(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside (collapsed) rows included."""
    for panel in panels:
        yield panel
        yield from panels_of(panel.get("panels", []))


def chart_panels() -> list[dict[str, Any]]:
    return [p for p in panels_of(load_dashboard()["panels"]) if p.get("type") != "row"]


def variable_query(variable: dict[str, Any]) -> str:
    query = variable.get("query", "")
    return str(query["query"] if isinstance(query, dict) else query)


def dashboard_expressions() -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target, and the selectors of query variables."""
    found = [
        (f"panel {panel['title']!r} target {target.get('refId')}", str(target["expr"]))
        for panel in chart_panels()
        for target in panel.get("targets", [])
    ]
    for variable in load_dashboard()["templating"]["list"]:
        if variable.get("type") == "query":
            match = _LABEL_VALUES.match(variable_query(variable))
            if match:
                found.append((f"variable {variable['name']!r}", match.group(1)))
    return found


def rule_expressions() -> list[tuple[str, str]]:
    return [(f"alert {rule['alert']}", str(rule["expr"])) for rule in load_rules()]


def all_expressions() -> list[tuple[str, str]]:
    return dashboard_expressions() + rule_expressions()


def as_promql(expr: str) -> str:
    """A Grafana expression with its built-in range variables replaced by durations."""
    for name, value in GRAFANA_BUILTINS.items():
        expr = expr.replace(name, value)
    return expr


# -- reading PromQL -----------------------------------------------------------


def metric_names(expr: str) -> set[str]:
    """The keyturn_*, process_* and up series an expression selects."""
    bare = _BRACES.sub("", _STRING.sub('""', expr))
    return set(_METRIC.findall(bare))


def matcher_labels(expr: str) -> dict[str, set[str]]:
    """Series name -> the label names its selectors match on."""
    found: dict[str, set[str]] = {}
    for name, body in _SELECTOR.findall(_STRING.sub('""', expr)):
        found.setdefault(name, set()).update(_MATCHER_LABEL.findall(body))
    return found


def grouping_labels(expr: str) -> list[set[str]]:
    """The label lists of each `by (...)` / `without (...)` clause."""
    return [
        {label.strip() for label in group.split(",") if label.strip()}
        for group in _GROUPING.findall(_STRING.sub('""', expr))
    ]


# -- reading /metrics ---------------------------------------------------------


def queryable_series(exposition: str) -> dict[str, str]:
    """Every sample name a query can select, mapped to the family that provides it.

    Built from the `# TYPE` lines, which are there even for a labelled family that
    has no child yet. A counter's TYPE line may name it with or without `_total`
    (prometheus_client's text format and OpenMetrics differ); its samples end in it.
    """
    series: dict[str, str] = {}
    for line in exposition.splitlines():
        parts = line.split()
        if len(parts) != 4 or parts[:2] != ["#", "TYPE"]:
            continue
        name, kind = parts[2], parts[3]
        family = name.removesuffix("_total") if kind == "counter" else name
        if kind == "info":
            family = family.removesuffix("_info")
        for suffix in SAMPLE_SUFFIXES.get(kind, ("",)):
            series[family + suffix] = family
    return series


def sample_labels(exposition: str) -> dict[str, set[str]]:
    """Sample name -> label names seen on its samples (only series that have samples)."""
    found: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            found.setdefault(sample.name, set()).update(sample.labels)
    return found


# -- a real server ------------------------------------------------------------


@pytest.fixture(scope="module")
def exposition(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """/metrics of a real `keyturn serve` (SQLite), after a little traffic."""
    folder = tmp_path_factory.mktemp("deploy")
    server = ServerProcess(f"sqlite:///{folder / 'keyturn.db'}", folder / "data")
    try:
        with httpx.Client(base_url=server.base_url, timeout=10) as http:
            # Labelled families get a child: a token request (refused, no client),
            # probes, and a first scrape that a second one then counts.
            http.post("/oauth/token", data={"grant_type": "client_credentials"})
            http.get("/healthz")
            http.get("/readyz")
            http.get("/metrics").raise_for_status()
            response = http.get("/metrics")
            response.raise_for_status()
            yield response.text
    finally:
        server.stop()


def test_the_exposition_parser_understands_every_type() -> None:
    """Guard against a check that passes because it reads nothing."""
    text = (
        "# TYPE a_requests counter\n"
        "# TYPE b_requests_total counter\n"
        "# TYPE c_seconds histogram\n"
        "# TYPE d_bytes gauge\n"
    )
    series = queryable_series(text)
    assert series["a_requests_total"] == "a_requests"
    assert series["b_requests_total"] == "b_requests"
    assert {"c_seconds_bucket", "c_seconds_sum", "c_seconds_count"} <= set(series)
    assert "c_seconds" not in series  # a histogram has no bare sample
    assert series["d_bytes"] == "d_bytes"


def test_the_promql_reader_finds_names_labels_and_groupings() -> None:
    expr = (
        'sum by (job, endpoint) (rate(keyturn_x_total{status=~"5..", note="up{"}[5m]))'
        " / on (job) group_left sum(up) unless process_open_fds offset 5m"
    )
    assert metric_names(expr) == {"keyturn_x_total", "up", "process_open_fds"}
    assert matcher_labels(expr) == {"keyturn_x_total": {"status", "note"}}
    assert grouping_labels(expr) == [{"job", "endpoint"}]
    assert metric_names("histogram_quantile(0.5, sum by (le) (rate(a_bucket[1m])))") == set()


# -- every metric used exists -------------------------------------------------


def test_every_metric_queried_is_exposed_by_keyturn(exposition: str) -> None:
    exposed = queryable_series(exposition)
    missing: dict[str, list[str]] = {}
    for where, expr in all_expressions():
        for name in metric_names(expr):
            if name not in exposed and name not in SYNTHETIC:
                missing.setdefault(name, []).append(where)
    report = [f"{name}, used in: {'; '.join(missing[name])}" for name in sorted(missing)]
    assert not missing, "not in /metrics:\n" + "\n".join(report)


def test_labels_matched_on_exist_where_keyturn_has_samples(exposition: str) -> None:
    """A matcher on a misspelt label selects nothing, silently. Checked for the series
    that have samples after the fixture's traffic; the others show no label names yet."""
    seen = sample_labels(exposition)
    wrong = sorted(
        f"{name}{{{label}}} (in {where})"
        for where, expr in all_expressions()
        for name, labels in matcher_labels(expr).items()
        if name in seen
        for label in labels - seen[name] - ATTACHED_LABELS
    )
    assert wrong == [], "label not on these series:\n" + "\n".join(wrong)


def test_the_dashboard_charts_every_family() -> None:
    used = {name for _, expr in dashboard_expressions() for name in metric_names(expr)}
    families = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in used}
    assert sorted(DASHBOARD_FAMILIES - families) == []


def test_the_alerts_cover_every_security_and_saturation_family() -> None:
    used = {name for _, expr in rule_expressions() for name in metric_names(expr)}
    families = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in used}
    assert sorted(ALERTED_FAMILIES - families) == []
    assert "up" in used


# -- the dashboard ------------------------------------------------------------


def test_the_dashboard_is_a_grafana_dashboard() -> None:
    dashboard = load_dashboard()
    assert dashboard["title"]
    assert dashboard["uid"]
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 36
    ids = [panel["id"] for panel in panels_of(dashboard["panels"])]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels_of(dashboard["panels"]):
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]


def test_the_dashboard_has_datasource_job_and_instance_variables() -> None:
    variables = {v["name"]: v for v in load_dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("job", "instance"):
        assert variables[name]["type"] == "query"
        assert variables[name]["datasource"]["uid"] == DATASOURCE_UID
        assert _LABEL_VALUES.match(variable_query(variables[name])), name
    assert "$job" in variable_query(variables["instance"])


def test_every_panel_has_a_title_the_datasource_variable_and_a_query() -> None:
    panels = chart_panels()
    assert len(panels) >= 10
    for panel in panels:
        title = panel.get("title")
        assert isinstance(title, str) and title.strip(), panel.get("id")
        assert panel.get("datasource") == {"type": "prometheus", "uid": DATASOURCE_UID}, title
        targets = panel.get("targets", [])
        assert targets, f"{title}: no target"
        ref_ids = [target.get("refId") for target in targets]
        assert len(set(ref_ids)) == len(ref_ids) and all(ref_ids), title
        for target in targets:
            assert isinstance(target.get("expr"), str) and target["expr"].strip(), title
            assert target.get("datasource", panel["datasource"]) == panel["datasource"], title


def test_every_panel_query_is_filtered_by_job_and_instance() -> None:
    for panel in chart_panels():
        for target in panel["targets"]:
            expr = target["expr"]
            for name, body in _SELECTOR.findall(expr):
                assert 'job=~"$job"' in body, f"{panel['title']}: {name}"
                assert 'instance=~"$instance"' in body, f"{panel['title']}: {name}"
            assert metric_names(expr) <= set(matcher_labels(expr)), panel["title"]


def test_the_dashboard_uses_only_defined_variables() -> None:
    dashboard = load_dashboard()
    defined = {v["name"] for v in dashboard["templating"]["list"]}
    builtins = {name.removeprefix("$") for name in GRAFANA_BUILTINS}
    for where, expr in dashboard_expressions():
        used = set(_VARIABLE.findall(expr))
        assert used <= defined | builtins, f"{where}: {sorted(used - defined - builtins)}"


def test_legends_name_labels_the_query_keeps(exposition: str) -> None:
    seen = sample_labels(exposition)
    for panel in chart_panels():
        for target in panel["targets"]:
            legend = set(_LEGEND_LABEL.findall(target.get("legendFormat", "")))
            expr = target["expr"]
            for group in grouping_labels(expr):
                assert legend <= group, f"{panel['title']}: {sorted(legend - group)}"
            if not grouping_labels(expr):
                names = metric_names(expr)
                if names and names <= set(seen):
                    available = set[str]().union(*(seen[n] for n in names)) | ATTACHED_LABELS
                    assert legend <= available, f"{panel['title']}: {sorted(legend)}"


def test_reuse_detected_is_highlighted() -> None:
    panels = [p for p in chart_panels() if "keyturn_invalid_grant" in json.dumps(p["targets"])]
    highlighted = [
        p
        for p in panels
        for override in p["fieldConfig"]["overrides"]
        if "reuse_detected" in str(override["matcher"].get("options"))
    ]
    assert highlighted, "no panel gives reuse_detected its own colour"


# -- the alerting rules -------------------------------------------------------


def test_the_rules_file_is_groups_of_rules() -> None:
    document = yaml.safe_load(ALERTS.read_text())
    assert set(document) == {"groups"}
    names = [group["name"] for group in document["groups"]]
    assert len(names) == len(set(names))
    for group in document["groups"]:
        assert group["rules"], group["name"]


def test_every_rule_is_a_complete_alert() -> None:
    rules = load_rules()
    alerts = [rule.get("alert") for rule in rules]
    assert len(alerts) == len(set(alerts)), "alert names must be unique"
    for rule in rules:
        name = rule.get("alert")
        assert isinstance(name, str) and re.fullmatch(r"Keyturn[A-Za-z0-9]+", name), rule
        assert isinstance(rule.get("expr"), str) and rule["expr"].strip(), name
        assert isinstance(rule.get("for"), str) and _DURATION.match(rule["for"]), name
        assert rule["labels"]["severity"] in SEVERITIES, name
        for key in ("summary", "description", "runbook"):
            text = rule["annotations"].get(key)
            assert isinstance(text, str) and text.strip(), f"{name}: annotations.{key}"


def test_annotations_name_labels_the_expression_keeps() -> None:
    """`{{ $labels.instance }}` renders empty when the expression aggregated it away."""
    for rule in load_rules():
        used = set(_TEMPLATE_LABEL.findall(json.dumps(rule["annotations"])))
        groups = grouping_labels(rule["expr"])
        if groups:
            kept = set.intersection(*groups)
            assert used <= kept, f"{rule['alert']}: {sorted(used - kept)}"


def test_the_alerts_the_operators_need_are_there() -> None:
    expressions = {rule["alert"]: rule["expr"] for rule in load_rules()}
    joined = "\n".join(expressions.values())
    assert any(re.search(r"\bup\{[^}]*\}\s*==\s*0", e) for e in expressions.values())
    for fragment in (
        'status="503"',
        'status=~"5.."',
        'endpoint="/oauth/token"',
        'reason="reuse_detected"',
        'kind="refresh_token_reuse"',
        'kind="token_scan"',
        'kind="suspected_compromise"',
        'outcome="failed"',
        'outcome="dead"',
        "keyturn_db_pool_in_use / (keyturn_db_pool_size",
    ):
        assert fragment in joined, fragment


# -- syntax, where a parser is at hand ------------------------------------------


def test_every_expression_is_valid_promql() -> None:
    """With promql-parser (bindings to a Rust PromQL parser), the expressions parse and
    select exactly the series the regular-expression reader above finds."""
    promql_parser = pytest.importorskip("promql_parser")
    for where, expr in all_expressions():
        try:
            tree = promql_parser.parse(as_promql(expr))
        except ValueError as exc:
            pytest.fail(f"{where}: {exc}\n{expr}")
        selected: set[str] = set()

        def visit(node: object, found: set[str] = selected) -> None:
            if isinstance(node, promql_parser.VectorSelector) and node.name:
                found.add(node.name)

        promql_parser.walk(tree, pre_visit=visit)
        ours = {name for name in selected if re.match(r"keyturn_|process_|up$", name)}
        assert ours == metric_names(expr), where


def test_promtool_accepts_the_rules() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian's prometheus package ships it)")
    result = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
