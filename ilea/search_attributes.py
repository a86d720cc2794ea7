"""The Temporal search attributes of a proposal, defined once.

The workflow upserts them when their value changes (``workflows/views.py``); the dev server
and the tests register them from here; the deployment names the same ones
(``deploy/compose/temporal-bootstrap.sh``, the Helm values' ``ilea-search-attributes`` Job),
which ``tests/deploy`` checks.
"""

from __future__ import annotations

from types import MappingProxyType

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType, SearchAttributeKey

STAGE = SearchAttributeKey.for_keyword("IleaStage")
ACADEMY = SearchAttributeKey.for_keyword("IleaAcademy")
TOPIC = SearchAttributeKey.for_keyword("IleaTopic")
START_DATE = SearchAttributeKey.for_datetime("IleaStartDate")

#: What is registered, and what the workflow upserts (each only when its value changes).
ALL: tuple[SearchAttributeKey, ...] = (STAGE, ACADEMY, TOPIC, START_DATE)

#: The parties a proposal waits on, which changed with every vote and cost a visibility write
#: per action. Edition 2 took it out of Temporal (the read model's ``pending_on`` serves it):
#: no longer registered, it is upserted only by proposals started before that change, on
#: their ``workflow.patched`` branch, so that they replay and finish where it still exists.
LEGACY_PENDING_ON = SearchAttributeKey.for_keyword_list("IleaPendingOn")

#: the ``--type`` names of the ``temporal`` CLI (dev server, ``operator search-attribute create``)
_CLI_TYPE_NAMES = MappingProxyType(
    {
        SearchAttributeIndexedValueType.TEXT: "Text",
        SearchAttributeIndexedValueType.KEYWORD: "Keyword",
        SearchAttributeIndexedValueType.INT: "Int",
        SearchAttributeIndexedValueType.DOUBLE: "Double",
        SearchAttributeIndexedValueType.BOOL: "Bool",
        SearchAttributeIndexedValueType.DATETIME: "Datetime",
        SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
    }
)


def cli_types() -> dict[str, str]:
    """Name → type as the ``temporal`` CLI spells it, e.g. ``{"IleaStage": "Keyword", …}``."""
    return {key.name: _CLI_TYPE_NAMES[key.indexed_value_type] for key in ALL}


def dev_server_args() -> list[str]:
    """The ``temporal server start-dev`` arguments that register every attribute."""
    args: list[str] = []
    for name, kind in cli_types().items():
        args += ["--search-attribute", f"{name}={kind}"]
    return args


async def register(client: Client) -> None:
    """Register every attribute on the client's namespace (the time-skipping test server has no flag for it)."""
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={key.name: IndexedValueType.ValueType(key.indexed_value_type) for key in ALL},
        )
    )
