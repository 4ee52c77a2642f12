"""`python -m ra` runs the `ra` command."""

from ra.cli.app import main

main()
