"""Auto-renewal (docs/renewals.md): turning it on or off, and the job that renews paid plans."""
