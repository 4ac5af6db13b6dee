# One image for the worker and the web process of Winkel Orders. It runs as an unprivileged
# user; the engine writes only to WINKEL_DATA_DIR (RocksDB tables), which that user owns.
FROM python:3.11-slim-bookworm
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY engine engine
COPY agents agents
COPY models models
COPY web web
RUN pip install --no-cache-dir -c constraints.txt . \
    && useradd --system --uid 10001 --home-dir /var/lib/winkel --create-home winkel
ENV WINKEL_DATA_DIR=/var/lib/winkel
USER winkel
ENTRYPOINT ["winkel"]
