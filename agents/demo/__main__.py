"""python -m agents.demo: see agents/demo/cli.py."""
import sys

from agents.demo.cli import main

if __name__ == '__main__':
  sys.exit(main())
