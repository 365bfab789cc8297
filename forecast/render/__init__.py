"""Figures (`figures`, the one wrapper of matplotlib) and Markdown (`markdown`) that the use cases
write into their folders. Rendering only: no computation.

Below `forecast.runs`; may import `forecast.store` (atomic writes) and what lies beneath it,
never a use case or the CLI.
"""
