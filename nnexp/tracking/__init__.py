"""MLflow and nothing else: the store, the journal and its writer, a run's record through the
MLflow observer, the logged model, reading runs back. It receives numbers, arrays and files."""
