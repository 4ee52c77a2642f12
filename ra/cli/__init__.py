"""The `ra` command line: typer commands that parse, call one library function, render."""
