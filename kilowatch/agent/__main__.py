"""`python -m kilowatch.agent [--config FILE]`: the agent without the `kilowatch` command."""

from __future__ import annotations

import argparse
import logging
import sys

from kilowatch.agent.runner import run_agent
from kilowatch.agent.settings import AgentSettings
from kilowatch.config import ConfigError
from kilowatch.settings import SettingsError


def main(argv: list[str] | None = None) -> int:
    """Parse flags, run the agent; a setting a person must fix prints 'error: ...' and exits 2."""
    parser = argparse.ArgumentParser(prog="python -m kilowatch.agent", description=__doc__)
    parser.add_argument("--config", "-c", help="agent config file [env KILOWATCH_AGENT_CONFIG]")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return run_agent(AgentSettings.load(agent_config=args.config))
    except (ConfigError, SettingsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
