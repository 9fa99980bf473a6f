"""Price experiments (docs/experiments.md): each user's prices (the running experiment's variant,
or the catalog), and the admin's experiments: create, start, stop, results."""
