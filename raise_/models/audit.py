"""Audit queries and entries: ``from raise_.models.audit import AuditQuery``."""
from raise_.sdk.security import AuditAlert, AuditConfig, AuditEntry, AuditQuery, AuditVerification

__all__ = ["AuditQuery", "AuditEntry", "AuditAlert", "AuditConfig", "AuditVerification"]
