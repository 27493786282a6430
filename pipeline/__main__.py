from pipeline.cli.main import app

app(prog_name="adtech")
