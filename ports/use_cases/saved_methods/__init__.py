"""Saved payment methods (docs/saved-methods.md): customers at providers, storing the method a
payment saved, off-session charges (one-click purchases, renewals), listing, default, delete."""
