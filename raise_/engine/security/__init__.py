"""Access control, cross-organization grants and the tamper-evident audit log.

The engine calls these hooks (see each function's docstring):

- ``audited(session)``: a context manager around each statement and each ingest; it writes
  the statement's audit events with outcome ALLOWED, DENIED or ERROR when it ends.
- ``authorize_statement(session, statement, rule)``: inside the statement's catalog transaction,
  just before its handler, with the rule its family declares (it records the creator of what is
  created, forgets ACLs of what is dropped).
- ``authorize_query(session, dataframe, context)``: after planning plain SQL, before running it.
- ``authorize_write(session, group, columns, mode, rows)``: before an ingest writes.
- ``visible_groups`` / ``visible_schema`` / ``visible_paths``: catalog listings for SQL clients
  (GetTables, GetCatalogs, GetDbSchemas, get_objects).
- ``security.handlers.FAMILY``: the security statements (ACLs, grants, audit) as a family.

Every refusal is ``AccessDenied``, a ``grammar.errors.PermissionDenied`` (PERMISSION_DENIED).
"""
from raise_.engine.security.audit import AuditLog, Entry, Event, log_for
from raise_.engine.security.authorize import (
    authorize_query, authorize_write, visible_groups, visible_paths, visible_schema,
)
from raise_.engine.security.audit_scope import AccessDenied, audited, record
from raise_.engine.security.checks import authorize_statement

__all__ = [
    "audited", "authorize_statement", "authorize_query", "authorize_write",
    "visible_groups", "visible_paths", "visible_schema", "record",
    "AccessDenied", "AuditLog", "Entry", "Event", "log_for",
]
