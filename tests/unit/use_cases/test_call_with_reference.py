"""Port 1.4: the core passes a session's stored `provider_reference` to `query_payment` and
`close_payment` only when the plugin's method declares the keyword, so older plugins are called
exactly as before."""
from ports.payment_provider import call_with_reference


class OlderPlugin:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    async def query_payment(self, order_id: str) -> str:
        self.calls.append((order_id,))
        return "older"


class NewerPlugin:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    async def query_payment(self, order_id: str, *, provider_reference: str | None = None) -> str:
        self.calls.append((order_id, provider_reference))
        return "newer"


class AnyKeywordPlugin:
    async def close_payment(self, order_id: str, **options: object) -> dict:
        return options


async def test_a_plugin_without_the_keyword_gets_the_order_id_alone():
    older = OlderPlugin()
    assert await call_with_reference(older.query_payment, "C1", "ref_1") == "older"
    assert older.calls == [("C1",)]


async def test_a_plugin_declaring_it_gets_the_reference_even_when_there_is_none():
    newer = NewerPlugin()
    await call_with_reference(newer.query_payment, "C1", "cs_1")
    await call_with_reference(newer.query_payment, "C2", None)
    assert newer.calls == [("C1", "cs_1"), ("C2", None)]


async def test_a_plugin_taking_any_keyword_gets_it_too():
    assert await call_with_reference(AnyKeywordPlugin().close_payment, "C1", "cs_1") == {"provider_reference": "cs_1"}
