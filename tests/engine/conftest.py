import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # allow running without `pip install -e .`
    sys.path.insert(0, str(ROOT))
