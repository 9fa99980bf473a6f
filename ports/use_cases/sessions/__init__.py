"""Payment sessions: opening one (and its provider order), reading it, expiring lapsed ones."""
