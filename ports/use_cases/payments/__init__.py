"""Payments: buying receives and the transactions a user pays for (history, detail, cancel)."""
