"""Events to the main backend: delivering the outbox (`DeliverEvents`), the admins' view of it
(`ListEvents`, `RedeliverEvent`) and its retention (`PurgeEvents`); docs/events.md."""
