"""Ray job entry point for `scan`, same options and exit codes:

    ray job submit --working-dir . -- python jobs/audit_job.py INPUTS... --output s3://bucket/run [options]

Inside a job RAY_ADDRESS is set, so the scan joins the job's cluster.
"""
import sys
from pathlib import Path

# `ray job submit --working-dir .` runs this file from jobs/, which puts jobs/ (not the submitted working dir)
# on sys.path: import the submitted copy of `audit`, installed on the cluster or not.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit.cli.main import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(["scan", *sys.argv[1:]]))
