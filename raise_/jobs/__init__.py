"""Jobs: sources, transforms, targets, schedules, incremental runs and quality checks.

The spec objects (``ObjectStorage``, ``SQLTransform``, ``Target``, ``Schedule``, ...) are plain
values that ``fs.create_job`` compiles to ``CREATE JOB``; the engine family
(``raise_.jobs.family``) stores and runs jobs (``raise_.jobs.runner``), and the scheduler
(``raise_.jobs.scheduler``) runs the due ones inside ``raise serve`` or from ``raise jobs run-due``.
Importing this package loads neither DataFusion nor Delta Lake.
"""
from raise_.jobs.checks import CheckReport, NullCheck, RangeCheck, RowCountCheck
from raise_.jobs.client import DeploymentResult, Job, JobRun
from raise_.jobs.schedules import IncrementalConfig, Schedule
from raise_.jobs.sources import ColumnarSource, FeatureGroupSource, FileSystem, ObjectStorage
from raise_.jobs.targets import Target
from raise_.jobs.transforms import PythonTransform, SQLTransform, python_transform

__all__ = [
    "ObjectStorage", "FileSystem", "ColumnarSource", "FeatureGroupSource", "SQLTransform", "PythonTransform",
    "python_transform", "Target", "Schedule", "IncrementalConfig", "NullCheck", "RangeCheck", "RowCountCheck",
    "CheckReport", "Job", "JobRun", "DeploymentResult",
]
