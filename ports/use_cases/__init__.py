"""Use cases: one module each, holding its frozen command, the use-case class and its read model."""
