"""The catalog the frontend shows: prices and plans, payment methods."""
