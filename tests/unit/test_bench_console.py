"""The console bench's pages come from the route table: every page is measured, nothing else."""

from __future__ import annotations

import pytest

from bench.scenarios.console import block_median, fill, page_templates, slug
from gateway.routes import CONSOLE_ROWS


def test_every_console_page_of_the_route_table_is_measured() -> None:
    pages = page_templates(CONSOLE_ROWS)
    bare = {p.split("?")[0] for p in pages}
    gets = {r.path for r in CONSOLE_ROWS if "GET" in r.methods.split()}
    assert {"/ui", "/ui/login", "/ui/functions", "/ui/functions/{name}"} <= bare
    assert "/ui/functions/{name}/configuration" in bare
    # Not pages: the assets and catch-all, the zip, the live tail (timed on its own).
    assert bare == {
        p
        for p in gets
        if ":path}" not in p
        and p not in ("/ui/functions/{name}/code.zip", "/ui/functions/{name}/logs/tail")
    }


def test_a_list_is_also_measured_as_a_search_and_a_later_page() -> None:
    pages = page_templates(CONSOLE_ROWS)
    assert {"/ui/functions", "/ui/functions?q=99", "/ui/functions?page=10"} <= set(pages)


def test_no_post_is_measured() -> None:
    gets = {r.path for r in CONSOLE_ROWS if "GET" in r.methods.split()}
    posts_only = {r.path for r in CONSOLE_ROWS} - gets
    assert "/ui/functions/{name}/test/invoke" in posts_only
    assert not posts_only & {p.split("?")[0] for p in page_templates(CONSOLE_ROWS)}


def test_a_template_is_filled_with_the_function_and_its_query() -> None:
    path = "/ui/functions/{name}/test/invocation?request_id={request_id}"
    filled = fill(path, {"name": "demo", "request_id": "r-1"})
    assert filled == "/ui/functions/demo/test/invocation?request_id=r-1"
    with pytest.raises(KeyError):
        fill("/ui/functions/{name}/x/{other}", {"name": "demo"})


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("/ui", "home"),
        ("/ui/functions", "functions"),
        ("/ui/functions?page=10", "functions_page_10"),
        ("/ui/functions/{name}/monitor?window=24h", "functions_name_monitor_window_24h"),
        ("/healthz", "healthz"),
        ("/v1/functions", "v1_functions"),
    ],
)
def test_a_page_names_its_figures(template: str, expected: str) -> None:
    assert slug(template) == expected


def test_one_slow_block_moves_a_side_s_figure_less_than_a_percentile_of_all() -> None:
    calm = [[1.0] * 98 + [2.0, 2.0] for _ in range(4)]
    burst = [[1.0] * 90 + [30.0] * 10]
    assert block_median(calm + burst, 99) == 2.0
    assert block_median(calm + burst, 50) == 1.0
