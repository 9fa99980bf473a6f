"""Terminal colours never reach the JSON log lines: the `databases` library logs its connections
with a `color_message` extra full of ANSI escapes (for coloured consoles); the JSON formatter
drops it and takes escape sequences out of whatever it prints."""
import json
import logging
from pathlib import Path

from databases import Database

from entrypoints.logs import JsonFormatter


class Lines(logging.Handler):
    """Formats every record it gets with the service's JSON formatter."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.records: list[logging.LogRecord] = []
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))


async def test_the_databases_librarys_connection_records_print_without_color_message_or_escapes(tmp_path: Path):
    handler, logger = Lines(), logging.getLogger("databases")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)  # setLevel, not `.level =`: only it clears isEnabledFor's cache
    try:
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'colours.db'}")
        await database.connect()
        await database.disconnect()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)

    assert [r.getMessage().split(" sqlite")[0] for r in handler.records] == [
        "Connected to database", "Disconnected from database"]
    assert all("\x1b[" in r.color_message for r in handler.records)  # what the library attaches
    for line in handler.lines:
        assert "\x1b" not in line and "\\u001b" not in line and "color_message" not in line
        assert json.loads(line)["logger"] == "databases"
    url = f"sqlite+aiosqlite:///{tmp_path / 'colours.db'}"
    assert json.loads(handler.lines[0])["message"] == f"Connected to database {url}"


def test_escape_sequences_in_a_message_or_an_extra_field_are_taken_out():
    record = logging.LogRecord("payments.x", logging.WARNING, __file__, 1, "\x1b[31mred\x1b[0m %s",
                               ("\x1b[1mbold\x1b[0m",), None)
    record.detail = "\x1b[2Kcleared"

    parsed = json.loads(JsonFormatter().format(record))

    assert (parsed["message"], parsed["detail"]) == ("red bold", "cleared")
