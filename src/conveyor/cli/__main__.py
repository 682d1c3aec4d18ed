"""``python -m conveyor.cli``: the same as the ``conveyor`` script."""

from . import main

main()
