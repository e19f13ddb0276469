from darkpy.cli import app

app(prog_name="darkpy")
