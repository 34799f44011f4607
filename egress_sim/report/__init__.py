"""Rendering results for people: terminal text, Markdown, and the report documents (``document``: report.json,
report.md, report.html). Never computes verdicts."""
