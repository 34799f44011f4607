"""Analyses over compiled rule tables and their verdicts, before anyone touches Azure: what changes between two
configurations (``whatif``), which rules to add (``suggest``), which rules are hit, dead or shadowed (``rules``),
what a service-tag update changes (``tagdiff``) and what applying a new file would do in Azure (``plan``). Pure
computation: the jobs in ``app`` read and write the files."""
