"""What a record contains, with no store in sight: the tag names (the record schema), params
text, provenance, redaction, plots, model files and the exact comparison of metric histories.
Run, tracking and sweep all read and write records through these."""
