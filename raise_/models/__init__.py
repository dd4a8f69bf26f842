"""Public data classes of the SDK by topic (``raise_.models.audit``)."""
