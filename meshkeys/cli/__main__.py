"""`python -m meshkeys.cli`: the same as the `meshkeys` command."""

from meshkeys.cli import main

main()
