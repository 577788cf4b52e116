"""How every script in this folder runs: as the CLI does, an error the user can act on
(:class:`~sssle_bench.errors.SssleError`, an OS error) is one line on stderr and exit
code 2, not a traceback; an interruption says so and exits 130."""

from __future__ import annotations

import sys
from collections.abc import Callable

from sssle_bench.errors import SssleError, user_message


def run_tool(main: Callable[[], object]) -> None:
    """Call a tool's ``main`` and exit: 0, 2 (one line for a user's error) or 130."""
    try:
        main()
    except (SssleError, OSError) as exc:
        print(user_message(exc), file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(0)
