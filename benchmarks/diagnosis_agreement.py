"""How often the diagnosis names the condition a run was built to have: trains the labelled set
of tests/diagnose/labelled_runs.py (in-process, tracking off) and prints, per run, the label,
the verdict and its evidence, then the agreement rate (`uncertain` counts as agreeing only where
the case allows it) and how many verdicts were `uncertain`.

    PYTHONPATH=. python benchmarks/diagnosis_agreement.py [--evidence]

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType

CASES_FILE = Path(__file__).resolve().parent.parent / "tests" / "diagnose" / "labelled_runs.py"


def load_cases(path: Path = CASES_FILE) -> ModuleType:
    """The labelled-runs module, imported by path (tests/ is no package)."""
    spec = importlib.util.spec_from_file_location("labelled_runs", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run the set, print the table and return the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evidence", action="store_true", help="print each verdict's evidence")
    args = parser.parse_args(argv)
    labelled = load_cases()
    started = time.perf_counter()
    results = [(case, labelled.run_case(case)) for case in labelled.CASES]
    seconds = time.perf_counter() - started
    table, agree, uncertain = labelled.agreement_table(results)
    print(table)
    if args.evidence:
        for case, run in results:
            also = f" (also: {', '.join(run.verdict.also)})" if run.verdict.also else ""
            print(f"{case.name}: {run.verdict.name}: {run.verdict.evidence}{also}")
    n = len(results)
    print(f"agreement {agree}/{n} = {agree / n:.1%}; uncertain {uncertain}; {seconds:.1f} s")
    figures = {"cases": n, "agree": agree, "rate": round(agree / n, 4),
               "uncertain": uncertain, "seconds": round(seconds, 1)}
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
