"""``python -m ringemu`` runs the CLI."""

from ringemu.cli import main

main()
