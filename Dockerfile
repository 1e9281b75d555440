# Shelfwise web, worker and beat image (docker-compose.yml runs them all from this one image).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SHELFWISE_VAR_DIR=/app/var \
    SHELFWISE_MEDIA_ROOT=/data/media

WORKDIR /app
RUN useradd --create-home --uid 10001 shelfwise

# Dependencies first, so a code change does not reinstall numpy and scipy.
COPY pyproject.toml README.md ./
RUN mkdir -p config catalog behavior recommender demo dashboard \
    && pip install . \
    && pip uninstall -y shelfwise

COPY . .
RUN pip install --no-deps . \
    # collectstatic needs settings that load; this key exists only during the build.
    && DJANGO_DEBUG=false DJANGO_SECRET_KEY=collectstatic-only-not-a-secret \
       python manage.py collectstatic --noinput \
    && mkdir -p /app/var /data/media \
    && chown -R shelfwise:shelfwise /app/var /data/media

USER shelfwise
EXPOSE 8000
# docker-compose.yml names the command for each service; alone, the image serves the site.
CMD ["gunicorn", "--config=config/gunicorn.py", "config.wsgi:application"]
