"""The app exactly as gunicorn serves it, plus a hello-world endpoint: bench/inbound.py's baseline,
served by the same processes and configuration as the endpoint it is compared with."""

from flask import jsonify

from backend import create_app

app = create_app()


@app.post("/bench/hello")
def hello():
    return jsonify(hello="world")
