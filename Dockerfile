# StockFlow API image: slim Python, pinned dependencies, non-root, gunicorn.
FROM python:3.12-slim

# STOCKFLOW_ENV=production: the app refuses to start without a strong
# STOCKFLOW_ADMIN_TOKEN and a PostgreSQL DATABASE_URL (both come at run time)
ENV STOCKFLOW_ENV=production \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /srv/stockflow
RUN useradd --system --uid 10001 --create-home stockflow

COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY alembic.ini gunicorn.conf.py wsgi.py ./
COPY app ./app
COPY migrations ./migrations
# the instance folder holds the embedded SQLite database when DATABASE_URL is unset
RUN mkdir instance && chown stockflow:stockflow instance

USER stockflow
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"
CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
