"""`python -m darkpy ...` runs the same CLI as the `darkpy` command."""
from darkpy.cli import app

app(prog_name="darkpy")
