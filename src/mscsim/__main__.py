"""``python -m mscsim``: the same as the ``mscsim`` command."""

from mscsim.cli import main

main()
