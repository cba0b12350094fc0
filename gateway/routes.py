"""Every route of the gateway, once: its methods, path, who may call it, body limit, endpoint.

The edge reads this table for each request before its body (the key to check,
the body limit, whether it serves the request itself); the API registers and
documents the same rows (``gateway.app``). A path the table does not know needs
the admin key. An AWS API is more rows here, marked ``aws`` (``gateway.edge.aws``).

``Role``: PUBLIC needs nothing; TRIGGER is left to the function's http config;
CALLER takes any key (the handler hides others' invocations); INVOKE an admin
key or an invoke key for the function named by the ``function`` parameter;
ADMIN an admin key. See ``gateway.edge.table`` for how a request is matched.
"""

from __future__ import annotations

from faas.catalog.bundle import BundleLimits
from faas.models import INVOKE_MAX_BYTES
from gateway.api import aws_services, docs, forwarded, health, internal
from gateway.api.aws_lambda import account, event_invoke
from gateway.api.aws_lambda import functions as lambda_functions
from gateway.api.aws_lambda import invoke as lambda_invoke
from gateway.api.aws_lambda import layers as lambda_layers
from gateway.api.aws_lambda import mappings as lambda_mappings
from gateway.api.aws_lambda import urls as lambda_urls
from gateway.api.aws_lambda import versions as lambda_versions
from gateway.api.v1 import functions, http_routes, invocations, invoke, logs, schedules, secrets
from gateway.api.v1 import mappings as v1_mappings
from gateway.api.v1 import nodes as v1_nodes
from gateway.console import login, static
from gateway.console.pages import async_tab as console_async
from gateway.console.pages import cluster as console_cluster
from gateway.console.pages import configuration, function, monitor
from gateway.console.pages import functions as console_functions
from gateway.console.pages import logs as console_logs
from gateway.console.pages import queues as console_queues
from gateway.console.pages import test as test_tab
from gateway.console.pages import triggers as triggers_tab
from gateway.console.pages import triggers_mappings as mappings_tab
from gateway.console.pages import versions as versions_tab
from gateway.edge.aws import Operation
from gateway.edge.table import Endpoint, Role, Route, Table

PUBLIC, TRIGGER, CALLER = Role.PUBLIC, Role.TRIGGER, Role.CALLER
INVOKE, ADMIN, CONSOLE = Role.INVOKE, Role.ADMIN, Role.CONSOLE

# A zip, its multipart framing and the form fields around it.
UPLOAD = BundleLimits().max_zipped_bytes + (1 << 20)
# An event of a sync invoke, or an HTTP request to a function (an async event is
# checked against its own, smaller limit once read).
EVENT = INVOKE_MAX_BYTES
ANY = "GET HEAD POST PUT PATCH DELETE OPTIONS"  # what an HTTP route of a function takes

FUNCTION = "/v1/functions/{name}"

ROWS = [
    # The hot path first: the invoke is the first row of /v1 a request tries.
    Route("POST", FUNCTION + "/invoke", INVOKE, invoke.invoke, EVENT, function="name"),
    Route("GET", "/v1/functions", ADMIN, functions.list_functions),
    Route("POST", "/v1/functions", ADMIN, functions.create_function, UPLOAD),
    Route("GET", FUNCTION, ADMIN, functions.get_function),
    Route("PATCH", FUNCTION, ADMIN, functions.update_config),
    Route("DELETE", FUNCTION, ADMIN, functions.delete_function),
    Route("GET", FUNCTION + "/code", ADMIN, functions.get_code),
    Route("PUT", FUNCTION + "/code", ADMIN, functions.update_code, UPLOAD),
    Route("GET", FUNCTION + "/async-config", ADMIN, functions.get_async_config),
    Route("PUT", FUNCTION + "/async-config", ADMIN, functions.put_async_config),
    Route("GET", FUNCTION + "/http", ADMIN, functions.get_http_config),
    Route("PUT", FUNCTION + "/http", ADMIN, functions.put_http_config),
    Route("GET", FUNCTION + "/schedules", ADMIN, schedules.get_schedules),
    Route("PUT", FUNCTION + "/schedules", ADMIN, schedules.put_schedules),
    Route("GET", FUNCTION + "/logs", ADMIN, logs.get_logs),
    Route("GET", FUNCTION + "/secrets", ADMIN, secrets.list_secrets),
    Route("PUT", FUNCTION + "/secrets", ADMIN, secrets.put_secrets),
    Route("DELETE", FUNCTION + "/secrets/{secret}", ADMIN, secrets.delete_secret),
    Route("GET", FUNCTION + "/dead-letters", ADMIN, invocations.list_dead_letters),
    Route("POST", FUNCTION + "/dead-letters/redrive", ADMIN, invocations.redrive),
    Route("DELETE", FUNCTION + "/dead-letters/{request_id}", ADMIN, invocations.delete_dead_letter),
    Route("GET", "/v1/invocations/{request_id}", CALLER, invocations.get_invocation),
    Route("GET", "/v1/mappings", ADMIN, v1_mappings.list_mappings),
    Route("POST", "/v1/mappings", ADMIN, v1_mappings.create_mapping),
    Route("GET", "/v1/mappings/{uuid}", ADMIN, v1_mappings.get_mapping),
    Route("PATCH", "/v1/mappings/{uuid}", ADMIN, v1_mappings.update_mapping),
    Route("DELETE", "/v1/mappings/{uuid}", ADMIN, v1_mappings.delete_mapping),
    Route("GET", "/v1/nodes", ADMIN, v1_nodes.list_nodes),
    # Between nodes: no key, a peer's signature (gateway.api.internal checks it).
    Route("GET", "/internal/code/{sha256}", PUBLIC, internal.get_code, documented=False),
    Route(
        "POST",
        "/internal/invoke/{name}",
        PUBLIC,
        forwarded.invoke_forwarded,
        EVENT,
        documented=False,
    ),
    # Plain HTTP to a function, as API Gateway's proxy integration.
    Route(ANY, "/fn/{name}", TRIGGER, http_routes.http_route, EVENT, documented=False),
    Route(ANY, "/fn/{name}/{path:path}", TRIGGER, http_routes.http_route, EVENT),
    Route("GET", "/healthz", PUBLIC, health.healthz),
    Route("GET", "/readyz", PUBLIC, health.readyz),
    Route("GET", "/metrics", ADMIN, health.metrics_endpoint),
    Route("GET HEAD", "/openapi.json", PUBLIC, docs.openapi),
    Route("GET HEAD", "/docs", PUBLIC, docs.swagger_ui_html),
    Route("GET HEAD", "/docs/oauth2-redirect", PUBLIC, docs.swagger_ui_redirect),
    Route("GET HEAD", "/redoc", PUBLIC, docs.redoc_html),
]


def aws(
    methods: str,
    path: str,
    operation: Operation,
    body_limit: int = 1 << 20,
    access: Role = ADMIN,
    service: str = "lambda",
) -> Route:
    """A row of an AWS API: signed, served by the edge, documented by AWS."""
    function = "FunctionName" if access is INVOKE else None
    return Route(
        methods,
        path,
        access,
        Endpoint(operation),
        body_limit,
        function=function,
        documented=False,
        aws=True,
        service=service,
    )


LAMBDA = "/2015-03-31/functions/{FunctionName}"
STREAMING = "/2021-11-15/functions/{FunctionName}"
CONCURRENCY = "/2017-10-31/functions/{FunctionName}/concurrency"
URL = "/2021-10-31/functions/{FunctionName}/url"
TAGS = "/2017-03-31/tags/{Resource}"
EVENT_INVOKE = "/2019-09-25/functions/{FunctionName}/event-invoke-config"
LAYERS = "/2018-10-31/layers"
LAYER_VERSIONS = LAYERS + "/{LayerName}/versions"
MAPPINGS = "/2015-03-31/event-source-mappings"

# The Lambda API (docs/lambda-api.md), at Lambda's own paths.
LAMBDA_ROWS = [
    aws("POST", LAMBDA + "/invocations", lambda_invoke.invoke, EVENT, access=INVOKE),
    aws(
        "POST",
        STREAMING + "/response-streaming-invocations",
        lambda_invoke.invoke_with_response_stream,
        EVENT,
        access=INVOKE,
    ),
    aws("GET", "/2015-03-31/functions", lambda_functions.list_functions),
    aws(
        "POST",
        "/2015-03-31/functions",
        lambda_functions.create_function,
        lambda_functions.CREATE_BODY_LIMIT,
    ),
    aws("GET", LAMBDA, lambda_functions.get_function),
    aws("POST", URL, lambda_urls.create_function_url_config),
    aws("GET", URL, lambda_urls.get_function_url_config),
    aws("PUT", URL, lambda_urls.update_function_url_config),
    aws("DELETE", URL, lambda_urls.delete_function_url_config),
    aws("GET", URL + "s", lambda_urls.list_function_url_configs),
    aws("POST", LAMBDA + "/versions", lambda_versions.publish_version),
    aws("GET", LAMBDA + "/versions", lambda_versions.list_versions_by_function),
    aws("POST", LAMBDA + "/aliases", lambda_versions.create_alias),
    aws("GET", LAMBDA + "/aliases", lambda_versions.list_aliases),
    aws("GET", LAMBDA + "/aliases/{Name}", lambda_versions.get_alias),
    aws("PUT", LAMBDA + "/aliases/{Name}", lambda_versions.update_alias),
    aws("DELETE", LAMBDA + "/aliases/{Name}", lambda_versions.delete_alias),
    aws("DELETE", LAMBDA, lambda_functions.delete_function),
    aws("GET", LAMBDA + "/configuration", lambda_functions.get_function_configuration),
    aws("PUT", LAMBDA + "/configuration", lambda_functions.update_function_configuration),
    aws(
        "PUT",
        LAMBDA + "/code",
        lambda_functions.update_function_code,
        lambda_functions.CREATE_BODY_LIMIT,
    ),
    aws("GET", "/2016-08-19/account-settings", account.get_account_settings),
    aws("PUT", CONCURRENCY, account.put_function_concurrency),
    aws("DELETE", CONCURRENCY, account.delete_function_concurrency),
    # GetFunctionConcurrency came later, under a date of its own.
    aws("GET", CONCURRENCY.replace("2017-10-31", "2019-09-30"), account.get_function_concurrency),
    aws("GET", TAGS, account.list_tags),
    aws("POST", TAGS, account.tag_resource),
    aws("DELETE", TAGS, account.untag_resource),
    aws("PUT", EVENT_INVOKE, event_invoke.put_function_event_invoke_config),
    aws("POST", EVENT_INVOKE, event_invoke.update_function_event_invoke_config),
    aws("GET", EVENT_INVOKE, event_invoke.get_function_event_invoke_config),
    aws("DELETE", EVENT_INVOKE, event_invoke.delete_function_event_invoke_config),
    aws("GET", EVENT_INVOKE + "/list", event_invoke.list_function_event_invoke_configs),
    # ListLayers, and GetLayerVersionByArn at the same path (?find=LayerVersion).
    aws("GET", LAYERS, lambda_layers.list_layers),
    aws(
        "POST",
        LAYER_VERSIONS,
        lambda_layers.publish_layer_version,
        lambda_layers.PUBLISH_BODY_LIMIT,
    ),
    aws("GET", LAYER_VERSIONS, lambda_layers.list_layer_versions),
    aws("GET", LAYER_VERSIONS + "/{VersionNumber}", lambda_layers.get_layer_version),
    aws("DELETE", LAYER_VERSIONS + "/{VersionNumber}", lambda_layers.delete_layer_version),
    aws("POST", MAPPINGS, lambda_mappings.create_event_source_mapping),
    aws("GET", MAPPINGS, lambda_mappings.list_event_source_mappings),
    aws("GET", MAPPINGS + "/{UUID}", lambda_mappings.get_event_source_mapping),
    aws("PUT", MAPPINGS + "/{UUID}", lambda_mappings.update_event_source_mapping),
    aws("DELETE", MAPPINGS + "/{UUID}", lambda_mappings.delete_event_source_mapping),
]

# SQS (JSON protocol) and SNS (query protocol), both at the root: docs/event-sources.md.
# Any key: the operation's queue or topic decides (aws_services.authorize).
SERVICES_ROW = aws(
    "POST", "/", aws_services.dispatch, 1 << 20, access=CALLER, service=aws_services.BY_REQUEST
)

# GetFunction's Code.Location: a signed link, taken without a key (the signature is one).
CODE_LINK = aws("GET", "/lambda-code/{sha256}", lambda_functions.get_code, access=PUBLIC)


FORM = 1 << 16  # a console form's post (a zip's is an UPLOAD)


def ui(methods: str, path: str, access: Role, endpoint: Endpoint, body_limit: int = FORM) -> Route:
    """A row of the web console: a page or a form's post (docs/console.md), undocumented."""
    return Route(methods, "/ui" + path, access, endpoint, body_limit, documented=False)


UI_FUNCTION = "/functions/{name}"

# The web console (gateway.console): a session cookie and a CSRF token (gateway.console.gate)
# on every row but the login form and the assets. The catch-all stays last.
CONSOLE_ROWS = [
    ui("GET HEAD", "/login", PUBLIC, login.login_page),
    ui("POST", "/login", PUBLIC, login.login),
    ui("GET HEAD", "/static/{path:path}", PUBLIC, static.asset),
    ui("POST", "/logout", CONSOLE, login.logout),
    ui("GET HEAD", "", CONSOLE, console_functions.home),
    ui("GET HEAD", "/functions", CONSOLE, console_functions.list_page),
    ui("POST", "/functions", CONSOLE, console_functions.create, UPLOAD),
    ui("GET HEAD", "/functions/new", CONSOLE, console_functions.new_page),
    ui("GET HEAD", UI_FUNCTION, CONSOLE, function.overview),
    ui("POST", UI_FUNCTION + "/delete", CONSOLE, function.delete),
    ui("GET HEAD", UI_FUNCTION + "/configuration", CONSOLE, configuration.page),
    ui("POST", UI_FUNCTION + "/configuration/code", CONSOLE, configuration.save_code, UPLOAD),
    ui("POST", UI_FUNCTION + "/configuration/{section}", CONSOLE, configuration.save),
    ui("GET HEAD", UI_FUNCTION + "/code.zip", CONSOLE, configuration.download),
    ui("GET HEAD", UI_FUNCTION + "/monitor", CONSOLE, monitor.page),
    ui("GET HEAD", UI_FUNCTION + "/monitor/charts", CONSOLE, monitor.charts),
    ui("GET HEAD", UI_FUNCTION + "/test", CONSOLE, test_tab.page),
    ui("GET HEAD", UI_FUNCTION + "/test/template", CONSOLE, test_tab.template),
    ui("POST", UI_FUNCTION + "/test/invoke", CONSOLE, test_tab.invoke, test_tab.INVOKE_BODY),
    ui("GET HEAD", UI_FUNCTION + "/test/invocation", CONSOLE, test_tab.invocation),
    ui("POST", UI_FUNCTION + "/test/events", CONSOLE, test_tab.save_event, test_tab.SAVE_BODY),
    ui("POST", UI_FUNCTION + "/test/events/delete", CONSOLE, test_tab.delete_event),
    ui("GET HEAD", UI_FUNCTION + "/logs", CONSOLE, console_logs.page),
    ui("GET", UI_FUNCTION + "/logs/tail", CONSOLE, console_logs.tail),
    # Triggers, Versions and aliases, Async; the Queues and topics and Cluster pages.
    ui("GET HEAD", UI_FUNCTION + "/triggers", CONSOLE, triggers_tab.page),
    ui("POST", UI_FUNCTION + "/triggers/http", CONSOLE, triggers_tab.save_http),
    ui("POST", UI_FUNCTION + "/triggers/schedules", CONSOLE, triggers_tab.add_schedule),
    ui("POST", UI_FUNCTION + "/triggers/schedules/toggle", CONSOLE, triggers_tab.toggle_schedule),
    ui("POST", UI_FUNCTION + "/triggers/schedules/delete", CONSOLE, triggers_tab.delete_schedule),
    ui("POST", UI_FUNCTION + "/triggers/schedules/edit", CONSOLE, triggers_tab.edit_schedule),
    ui("POST", UI_FUNCTION + "/triggers/mappings", CONSOLE, mappings_tab.toggle_mapping),
    ui("POST", UI_FUNCTION + "/triggers/mappings/add", CONSOLE, mappings_tab.add_mapping),
    ui("POST", UI_FUNCTION + "/triggers/mappings/update", CONSOLE, mappings_tab.update_mapping),
    ui("POST", UI_FUNCTION + "/triggers/mappings/delete", CONSOLE, mappings_tab.delete_mapping),
    ui("POST", UI_FUNCTION + "/triggers/subscriptions", CONSOLE, triggers_tab.unsubscribe),
    ui("POST", UI_FUNCTION + "/triggers/subscriptions/add", CONSOLE, triggers_tab.subscribe),
    ui("POST", UI_FUNCTION + "/triggers/subscriptions/filter", CONSOLE, triggers_tab.save_filter),
    ui("GET HEAD", UI_FUNCTION + "/versions", CONSOLE, versions_tab.page),
    ui("POST", UI_FUNCTION + "/versions", CONSOLE, versions_tab.publish),
    ui("POST", UI_FUNCTION + "/aliases", CONSOLE, versions_tab.create_alias),
    ui("POST", UI_FUNCTION + "/aliases/update", CONSOLE, versions_tab.update_alias),
    ui("POST", UI_FUNCTION + "/aliases/delete", CONSOLE, versions_tab.delete_alias),
    ui("GET HEAD", UI_FUNCTION + "/async", CONSOLE, console_async.page),
    ui("POST", UI_FUNCTION + "/async/redrive", CONSOLE, console_async.redrive),
    ui("POST", UI_FUNCTION + "/async/delete", CONSOLE, console_async.delete),
    ui("POST", UI_FUNCTION + "/async/config", CONSOLE, console_async.save_config),
    ui("POST", UI_FUNCTION + "/async/config/delete", CONSOLE, console_async.remove_config),
    ui("GET HEAD", "/queues", CONSOLE, console_queues.page),
    ui("POST", "/queues/send", CONSOLE, console_queues.send, console_queues.SEND_BODY),
    ui("GET HEAD", "/cluster", CONSOLE, console_cluster.page),
    ui("GET HEAD", "/{path:path}", CONSOLE, function.not_found),
]

ROUTES = Table([*LAMBDA_ROWS, SERVICES_ROW, CODE_LINK, *ROWS, *CONSOLE_ROWS])
