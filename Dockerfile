# One image for every process (api, worker, scheduler, migrate); the command picks the role.
# The virtual environment is built at the path it runs from (/app/.venv): console scripts keep
# the interpreter path they were installed with.
FROM python:3.11.14-slim-bookworm AS build
# Optional extra CA certificates (extra-ca-certificates/*.crt, empty by default) for building
# behind a TLS-intercepting proxy. Only this stage trusts them; the runtime image does not.
COPY extra-ca-certificates/ /usr/local/share/ca-certificates/extra/
RUN update-ca-certificates >/dev/null
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_NATIVE_TLS=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project --python /usr/local/bin/python3
COPY app app
COPY broker broker
COPY scheduler scheduler
RUN uv sync --frozen --no-dev --no-editable --python /usr/local/bin/python3

FROM python:3.11.14-slim-bookworm AS runtime
# psql, for the operators' `docker exec task-tracker-api psql ...`.
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --home-dir /app tasktracker
COPY --from=build /app/.venv /app/.venv
COPY deploy/entrypoint.sh /usr/local/bin/tasktracker-entrypoint
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 LANG=C.UTF-8
WORKDIR /app
USER 10001
EXPOSE 8000
# Removes the superuser's and the owner's credentials before the process starts (see the script).
ENTRYPOINT ["/usr/local/bin/tasktracker-entrypoint"]
CMD ["tasktracker", "api"]
