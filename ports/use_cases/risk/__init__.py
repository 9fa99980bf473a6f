"""Risk rules (docs/risk.md): the gate before a payment, the signals that flag users (refund
abuse, linked payers) and the admin's flags and blocks."""
