"""Log lines are JSON objects that carry the request id and never the secrets."""
import json
import logging

from entrypoints.logs import JsonFormatter


def test_a_log_record_becomes_one_json_line_with_its_extra_fields():
    record = logging.LogRecord("payments.access", logging.INFO, __file__, 1, "request", (), None)
    record.request_id = "req-1"
    record.status = 201

    line = JsonFormatter().format(record)

    assert "\n" not in line
    parsed = json.loads(line)
    assert (parsed["message"], parsed["request_id"], parsed["status"], parsed["level"]) == (
        "request", "req-1", 201, "info")
