"""The customer's schema names the transactions table `membership_transactions` (beside
`payment_sessions`, `payment_refunds` and `payment_methods`): `transactions` is renamed, with its
indexes and the constraints named after it (its own and the foreign keys of sessions and refunds
that point at it). Rows, ids and foreign keys are kept as they are.

PostgreSQL renames everything in place (`ALTER … RENAME`; a primary key's or unique
constraint's index follows its constraint). SQLite keeps constraint names in each table's
`CREATE TABLE` text and cannot rename them, so the three tables are rebuilt from that text with
the new names, their rows copied. Foreign keys are on (and cannot be turned off inside the
migration's transaction), so the new tables are built beside the old ones and point at each
other before the old ones are dropped children first: no row is ever without its parent.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""
import re
from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD, NEW = "transactions", "membership_transactions"
CHILDREN = ("payment_sessions", "payment_refunds")  # refunds point at sessions too: parents first
INDEXES = ("ix_{}_history", "ix_{}_history_status", "ix_{}_pending_created")
CONSTRAINTS = {  # table -> constraints named after the transactions table
    "{}": ("pk_{}", "uq_{}_order_id", "ck_{}_amounts_not_negative"),
    "payment_sessions": ("fk_payment_sessions_transaction_id_{}",),
    "payment_refunds": ("fk_payment_refunds_transaction_id_{}",),
}


def upgrade() -> None:
    _rename(OLD, NEW)


def downgrade() -> None:
    _rename(NEW, OLD)


def _rename(old: str, new: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(old, new)
        return
    op.rename_table(old, new)
    for table, names in CONSTRAINTS.items():
        for name in names:
            op.execute(f"ALTER TABLE {table.format(new)} RENAME CONSTRAINT {name.format(old)} TO {name.format(new)}")
    for name in INDEXES:
        op.execute(f"ALTER INDEX {name.format(old)} RENAME TO {name.format(new)}")


def _renamed(sql: str, old: str, new: str) -> str:
    """`sql` (a table's or index's DDL) with every name derived from the table `old` derived from
    `new` instead, and references to `old` pointing at `new`."""
    names = [name for group in CONSTRAINTS.values() for name in group] + list(INDEXES)
    for name in names:
        sql = re.sub(rf"(?<!\w){re.escape(name.format(old))}(?!\w)", name.format(new), sql)
    sql = re.sub(rf'\b(REFERENCES|ON|TABLE)\s+"?{old}"?(?=\s*\()', rf'\1 "{new}"', sql)
    return sql


def _rebuild_sqlite(old: str, new: str) -> None:
    bind = op.get_bind()

    def ddl(kind: str, table: str) -> list[str]:
        return list(bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = ? AND tbl_name = ? AND sql IS NOT NULL ORDER BY name",
            (kind, table)).scalars())

    indexes = {table: ddl("index", table) for table in (old, *CHILDREN)}
    # The parent under its new name; each child beside itself as `_new_<child>`, pointing at the
    # new parent and (refunds) at the new sessions.
    parent_sql = _renamed(ddl("table", old)[0], old, new)
    bind.exec_driver_sql(parent_sql)
    bind.exec_driver_sql(f'INSERT INTO "{new}" SELECT * FROM "{old}"')
    for child in CHILDREN:
        sql = _renamed(ddl("table", child)[0], old, new)
        sql = re.sub(rf'^CREATE TABLE\s+"?{child}"?', f'CREATE TABLE "_new_{child}"', sql)
        for sibling in CHILDREN:
            sql = re.sub(rf'\bREFERENCES\s+"?{sibling}"?(?=\s*\()', f'REFERENCES "_new_{sibling}"', sql)
        bind.exec_driver_sql(sql)
        bind.exec_driver_sql(f'INSERT INTO "_new_{child}" SELECT * FROM "{child}"')
    for table in (*reversed(CHILDREN), old):  # children first: nothing is left pointing at a dropped row
        bind.exec_driver_sql(f'DROP TABLE "{table}"')
    for child in CHILDREN:  # SQLite rewrites the references to `_new_<child>` as it renames
        bind.exec_driver_sql(f'ALTER TABLE "_new_{child}" RENAME TO "{child}"')
    for table, statements in indexes.items():
        for sql in statements:
            bind.exec_driver_sql(_renamed(sql, old, new))
