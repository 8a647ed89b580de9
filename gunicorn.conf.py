"""gunicorn settings for `make run` and the Procfile's web process."""

import ipaddress
import json
import os

from gunicorn import util
from gunicorn.http import errors
from gunicorn.workers.gthread import ThreadWorker

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # noqa: S104 (a server listens)
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# worker_class (gthread, answering what gunicorn refuses as problem+json) is set at the end.
# What gunicorn reads before the app sees a request (its defaults, stated): the request line, the
# number of header fields and the size of each. Bodies are limited by the app (MAX_CONTENT_LENGTH).
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
timeout = 30
graceful_timeout = 20
keepalive = 5
# Our structlog lines are the access log; gunicorn's own would duplicate them.
accesslog = None
errorlog = "-"
# gunicorn believes X-Forwarded-Proto (wsgi.url_scheme) only from the proxies the app believes
# (TRUSTED_PROXIES): one list, so a client on another address cannot pass plain http for https.
forwarded_allow_ips = ",".join(
    str(ipaddress.ip_network(part.strip(), strict=False))
    for part in os.environ.get("TRUSTED_PROXIES", "").split(",")
    if part.strip()
)

# Prometheus multiprocess mode: every worker writes its samples under this directory and /metrics
# aggregates them. It must be set before the workers import prometheus_client, hence here.
_metrics_dir = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", os.path.join(os.environ.get("QB_DATA_DIR", ".data"), "prometheus")
)


def on_starting(server):
    """Start with an empty metrics directory: samples of dead processes from a previous run would linger."""
    import shutil

    shutil.rmtree(_metrics_dir, ignore_errors=True)
    os.makedirs(_metrics_dir, exist_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


# -- the requests gunicorn refuses itself -----------------------------------------------------------
# gunicorn parses the request line and headers before the app sees anything, and refuses malformed
# or oversized ones with a page of HTML. Clients of this API get problem+json (RFC 9457) instead,
# like every other error. (Defined here, not in backend/: importing backend in the arbiter would
# load the whole app, and its metrics, before on_starting prepares their directory.)

# Most specific first: (error, status, title, slug, detail).
_REFUSALS = (
    (
        errors.LimitRequestLine,
        414,
        "URI Too Long",
        "uri-too-long",
        "the request line (method, path and query) is too long",
    ),
    (
        errors.LimitRequestHeaders,
        431,
        "Request Header Fields Too Large",
        "header-fields-too-large",
        "a header field is too long, or there are too many header fields",
    ),
    (
        errors.UnsupportedTransferCoding,
        501,
        "Not Implemented",
        "not-implemented",
        "the transfer coding is not supported",
    ),
    (errors.ExpectationFailed, 417, "Expectation Failed", "expectation-failed", "the Expect header is not supported"),
    (errors.ForbiddenProxyRequest, 403, "Forbidden", "forbidden", "the PROXY protocol line is not allowed from here"),
    # A header the app produced that gunicorn will not send is the app's fault, like a misconfiguration.
    (errors.InvalidResponseHeader, 500, "Internal Server Error", "internal-error", "an unexpected error occurred"),
    (errors.InvalidResponseHeaderName, 500, "Internal Server Error", "internal-error", "an unexpected error occurred"),
    (errors.ConfigurationProblem, 500, "Internal Server Error", "internal-error", "an unexpected error occurred"),
    (errors.ParseException, 400, "Bad Request", "bad-request", "the request is not well-formed HTTP/1.1"),
    (Exception, 500, "Internal Server Error", "internal-error", "an unexpected error occurred"),
)


# HSTS on these answers too, as the app sends it on its own (backend/config.py's default: a year in
# production, none elsewhere; HSTS_MAX_AGE_SECONDS decides).
_HSTS_MAX_AGE = int(
    os.environ.get("HSTS_MAX_AGE_SECONDS") or (365 * 86400 if os.environ.get("QB_ENV") == "production" else 0)
)
_HSTS = f"Strict-Transport-Security: max-age={_HSTS_MAX_AGE}; includeSubDomains\r\n" if _HSTS_MAX_AGE else ""


def problem_response(exc: BaseException) -> tuple[int, bytes]:
    status, title, slug, detail = next(refusal[1:] for refusal in _REFUSALS if isinstance(exc, refusal[0]))
    body = json.dumps({"type": f"urn:questbridge:problem:{slug}", "title": title, "status": status, "detail": detail})
    head = (
        f"HTTP/1.1 {status} {title}\r\nConnection: close\r\nContent-Type: application/problem+json\r\n"
        f"Cache-Control: no-store\r\n{_HSTS}Content-Length: {len(body)}\r\n\r\n"
    )
    return status, (head + body).encode("latin-1")


class ProblemJsonWorker(ThreadWorker):
    """gthread, answering what gunicorn refuses as problem+json: 414, 431, 400, and a 500 for the rest."""

    def handle_error(self, req, client, addr, exc):
        status, response = problem_response(exc)
        ip = (addr or ("", -1))[0]
        if status >= 500:
            self.log.exception("Error handling request from ip=%s", ip)
        else:  # what the request said goes to our log only, never back into an answer
            self.log.warning("Invalid request from ip=%s: %s", ip, exc)
        try:
            util.write_nonblock(client, response)
        except Exception:
            self.log.debug("Failed to send error message.")


worker_class = ProblemJsonWorker
