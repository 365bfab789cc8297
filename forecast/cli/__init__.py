"""The command line: the Typer app (`app`), its options and their parsing (`options`), and the
terminal rendering of every command's outcome (`tables`: tables, JSON, CSV on stdout).

Top layer: it may import every other subpackage; nothing imports it.
"""
