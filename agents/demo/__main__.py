"""python -m agents.demo: see agents/demo/cli.py."""
import sys

from agents.demo.cli import main

sys.exit(main())
