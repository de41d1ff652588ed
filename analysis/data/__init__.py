"""Data: the tasks (loading, formatting, scoring), task metrics, and multi-task batching."""
