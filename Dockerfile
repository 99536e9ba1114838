# StockFlow API image: slim Python, pinned dependencies, non-root, gunicorn.
# The base is pinned by release (Python 3.12.12 on Debian 12). Pin it by digest too
# (python:3.12.12-slim-bookworm@sha256:...) once you can ask your registry for it;
# a digest can't be looked up from a machine without registry access, so none is
# written here rather than a made-up one.
FROM python:3.12.12-slim-bookworm

# STOCKFLOW_ENV=production: the app refuses to start without a strong
# STOCKFLOW_ADMIN_TOKEN and a PostgreSQL database (both come at run time)
ENV STOCKFLOW_ENV=production \
    PORT=8000 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /srv/stockflow
# a numeric uid/gid, so Kubernetes' runAsNonRoot can verify it without /etc/passwd
RUN groupadd --system --gid 10001 stockflow \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent stockflow

COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

COPY alembic.ini gunicorn.conf.py wsgi.py ./
COPY docker/entrypoint.sh docker/healthcheck.py ./docker/
COPY app ./app
COPY migrations ./migrations
# the instance folder holds the embedded SQLite database when no database is configured
RUN mkdir instance && chown 10001:10001 instance

USER 10001:10001
EXPOSE 8000
# the port gunicorn binds (GUNICORN_BIND or PORT), not a hard-coded 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "docker/healthcheck.py"]
# checks the configuration first: a bad one exits 78 with one clear line (see README)
ENTRYPOINT ["docker/entrypoint.sh"]
CMD ["serve"]
