"""`python -m edgelab` runs the command line."""

from edgelab.cli import main

main()
