"""`python -m nnexp.server` refuses, in one line, a database whose Python driver is missing
(the server would otherwise die of it after its start-up). The command itself serving a sweep on
PostgreSQL is tests/distributed/test_postgres_server.py."""

from __future__ import annotations

import pytest
from helpers import run_cli

from nnexp.server import ServerError, check_driver


def test_a_missing_driver_is_named_with_the_extra_that_installs_one():
    with pytest.raises(ServerError) as error:
        check_driver("postgresql+pg8000://mlflow:pw@db-host/mlflow")
    assert error.value.code == 2
    assert str(error.value) == (
        "--backend-store-uri: postgresql+pg8000:// needs the Python driver 'pg8000', which is "
        "not installed: pip install -e '.[server]' installs psycopg, for postgresql+psycopg://")
    check_driver("postgresql+psycopg://mlflow@db-host/mlflow")  # the server extra's driver
    check_driver("sqlite:////tmp/mlflow.db")


def test_the_command_exits_2_with_one_line_and_starts_nothing(tmp_path):
    done = run_cli(["nnexp.server", "--backend-store-uri",
                    "mysql+mysqldb://mlflow:s3cret@db-host/mlflow", "--dir", "srv"], cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        "nnexp.server: error: --backend-store-uri: mysql+mysqldb:// needs the Python driver "
        "'MySQLdb', which is not installed: pip install -e '.[server]' installs psycopg, for "
        "postgresql+psycopg://")
    assert "s3cret" not in done.stdout + done.stderr
    assert not (tmp_path / "srv" / "server.log").exists()
