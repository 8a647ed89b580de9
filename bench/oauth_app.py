"""The app exactly as gunicorn serves it, plus a hello-world endpoint: bench/oauth.py's baseline,
served by the same processes and configuration as the endpoints it is compared with."""

from flask import jsonify

from backend import create_app

app = create_app()


@app.get("/bench/hello")
def hello():
    return jsonify(hello="world")
