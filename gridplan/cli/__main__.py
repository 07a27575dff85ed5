"""``python -m gridplan.cli``: the ``gridplan`` command."""
from . import main

main()
