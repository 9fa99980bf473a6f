"""The SQL audit log repository (`ports.repositories.AuditLogRepository`): entries appended in the
unit of work of the change they record (queued with its other writes); nothing here updates or
deletes one, and on PostgreSQL a trigger refuses it anyway (revision 0009)."""
from __future__ import annotations

from adapters.sql import mapping
from adapters.sql.context import SqlContext
from adapters.sql.statements import bind_all, prepared
from adapters.sql.tables import audit_log
from domain.audit import AuditEntry

_COLUMNS = ("id", "actor", "action", "object_type", "object_id", "details", "request_id", "created_at")
_INSERT = prepared("audit_log_insert", lambda dialect: audit_log.insert().values(bind_all(_COLUMNS)))


class SqlAuditLogRepository:
    def __init__(self, context: SqlContext) -> None:
        self._c = context

    async def add(self, entry: AuditEntry) -> None:
        await self._c.write(_INSERT, **mapping.audit_entry_to_row(entry))
