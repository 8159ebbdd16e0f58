"""The `largemargin` command line."""
