"""Subcommands of the ``sdnet`` command line, one module each (see :mod:`sdnet.cli`)."""
