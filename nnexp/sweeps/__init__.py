"""Everything `cfg.sweep.*` means: a job's policy decided before its run exists, the Hydra
callback and the parent run, the summary, the winner test, pruning, resume and reuse."""
