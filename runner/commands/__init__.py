"""One module per subcommand: ``register(subparsers)`` and ``main(args, ctx) -> int``."""
