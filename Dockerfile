# One image for every process (api, worker, scheduler, migrate); the command picks the role.
FROM python:3.11.14-slim-bookworm AS build
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /src
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY app app
COPY broker broker
COPY scheduler scheduler
RUN uv sync --frozen --no-dev --no-editable

FROM python:3.11.14-slim-bookworm AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app tasktracker
COPY --from=build /src/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1
WORKDIR /app
USER tasktracker
EXPOSE 8000
CMD ["tasktracker", "api"]
