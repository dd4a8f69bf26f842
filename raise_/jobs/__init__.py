"""Jobs: sources, transforms, targets, schedules, incremental runs and quality checks."""
