# postal-handoff: one image for every process (migrate, worker, beat, web, simulators).
# The command picks the process: `handoff worker` (default), `handoff beat`, `handoff web`...
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HANDOFF_HOME=/app/var

WORKDIR /app

# Only what the package needs (see .dockerignore). Dependencies come from the lock, pinned
# with hashes (`make lock`); the project goes in without resolving anything else; then the
# sources are dropped.
COPY requirements.lock pyproject.toml celeryconfig.py /tmp/src/
COPY worker /tmp/src/worker
COPY integrations /tmp/src/integrations
# The simulators ride along for the `sim` compose profile (`handoff simulate`); production
# code never imports them.
COPY simulators /tmp/src/simulators
RUN pip install --require-hashes -r /tmp/src/requirements.lock \
 && pip install --no-deps /tmp/src \
 && pip check \
 && rm -rf /tmp/src \
 && useradd --system --uid 10001 --user-group --home-dir /app --no-create-home handoff \
 && mkdir -p /app/var/tokens \
 && chown -R handoff:handoff /app/var \
 && chmod 700 /app/var/tokens

USER handoff

EXPOSE 8700
CMD ["handoff", "worker"]
