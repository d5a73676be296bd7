"""The Click command line: one module per subcommand, shared options defined once."""
