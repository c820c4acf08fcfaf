"""`python -m obliviate ...` runs the command line."""

from obliviate.cli import main

main()
