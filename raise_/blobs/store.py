"""Where blob registries keep their records: the store's catalog, as objects of two kinds.

``blob_registry`` objects are keyed by the registry's name and hold its integrity policy;
``blob`` objects are keyed ``<registry>/<registry id>`` with the registry as parent and hold
one reference each (its stored fields, metadata and last validation). Everything goes
through the catalog's generic ``put``/``get``/``list``, so the Raise SQL statements for
registries only add handlers over the same records.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from raise_.engine.catalog import Catalog

__all__ = ["RegistryStore", "REGISTRY_KIND", "BLOB_KIND"]

REGISTRY_KIND = "blob_registry"
BLOB_KIND = "blob"


class RegistryStore:
    """Registry and reference records in ``catalog``."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    @classmethod
    def open(cls, home: str | Path | None = None) -> "RegistryStore":
        """The catalog of the store at ``home`` (default ``$RAISE_HOME`` or ``./.raise``)."""
        from raise_.engine.engine import default_home

        root = Path(home) if home is not None else default_home()
        return cls(Catalog(root / "catalog.db"))

    def __repr__(self) -> str:
        return f"RegistryStore({str(self.catalog.path)!r})"

    # -- registries ---------------------------------------------------------------------------

    def get_registry(self, name: str) -> dict[str, Any] | None:
        return self.catalog.get(REGISTRY_KIND, name)

    def put_registry(self, name: str, record: dict[str, Any]) -> None:
        self.catalog.put(REGISTRY_KIND, name, record)

    def registries(self) -> list[dict[str, Any]]:
        return self.catalog.list(REGISTRY_KIND)

    # -- references ---------------------------------------------------------------------------

    def put(self, registry: str, registry_id: str, record: dict[str, Any]) -> None:
        self.catalog.put(BLOB_KIND, f"{registry}/{registry_id}", record, parent=registry)

    def put_many(self, registry: str, records: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Several references in one catalog transaction: all stored or none."""
        with self.catalog.transaction():
            for registry_id, record in records:
                self.put(registry, registry_id, record)

    def get(self, registry: str, registry_id: str) -> dict[str, Any] | None:
        return self.catalog.get(BLOB_KIND, f"{registry}/{registry_id}")

    def list(self, registry: str) -> list[dict[str, Any]]:
        return self.catalog.list(BLOB_KIND, parent=registry)
