"""The embedded Raise engine: catalog (SQLite), storage (Delta Lake), DataFusion queries."""
from raise_.engine.engine import Engine
from raise_.engine.query import ResultStream
from raise_.engine.session import Session, TableInfo

__all__ = ["Engine", "ResultStream", "Session", "TableInfo"]
