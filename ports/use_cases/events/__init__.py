"""Events to the main backend: delivering the outbox (`DeliverEvents`) and the admins' view of it
(`ListEvents`, `RedeliverEvent`); docs/events.md."""
