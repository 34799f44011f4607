"""Rendering results for people (text now; Markdown and HTML reports come later). Never computes verdicts."""
