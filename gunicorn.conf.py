"""gunicorn settings read from the repository root (gunicorn's default `./gunicorn.conf.py`);
the command line (Procfile, `rundesk`, benchmarks) sets bind, workers and threads.

Why this file exists: a worker that has imported Django holds ~90,000 long-lived objects, and
every full (generation 2) garbage collection walked them all: 60-110 ms with every thread of
the worker stopped, several times a minute under webhook load, which set the webhooks' p99.
`gc.freeze()` once the app is loaded moves those objects out of the collector's sight (they
live as long as the process anyway), so a full collection only walks what requests created.
"""

import gc


def post_worker_init(worker):
    """Load what Django otherwise loads on the first request, then freeze the heap."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (imports every view module)
    gc.collect()
    gc.freeze()
