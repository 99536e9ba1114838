"""``python -m app.preflight``: check the configuration before a container starts anything.

The image's entrypoint runs it before ``migrate`` and before ``serve``: a too-short
admin token, a missing or mangled database URL print one clear line on stderr and
exit with ``EXIT_CONFIG`` (78, sysexits' EX_CONFIG), which ``docker compose up -d``
reports as the one-shot ``migrate`` service failing, instead of a worker that dies
at boot again and again. A good configuration prints a summary, secrets masked, with
the database connection budget of this container.
"""

from __future__ import annotations

import pathlib
import sys

import sqlalchemy as sa

from app import sizing
from app.config import ConfigError, check_config, load_config

EXIT_CONFIG = 78
INSTANCE = pathlib.Path(__file__).resolve().parent.parent / "instance"


def main() -> int:
    """Check; print the verdict; 0 or EXIT_CONFIG."""
    try:
        config = load_config(str(INSTANCE))
        check_config(config)
    except (ConfigError, ValueError) as error:
        print(f"stockflow: configuration error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    url = sa.engine.make_url(config["SQLALCHEMY_DATABASE_URI"])
    workers, threads = sizing.workers(), sizing.threads()
    print(
        f"stockflow: configuration ok: {config['STOCKFLOW_ENV']}, database "
        f"{url.render_as_string(hide_password=True)}, {workers} workers x {threads} threads "
        f"= up to {workers * threads} database connections",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
