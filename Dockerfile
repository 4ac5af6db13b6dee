# One image for the worker and the web process of Winkel Orders.
FROM python:3.11-slim-bookworm
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY engine engine
COPY agents agents
COPY models models
COPY web web
RUN pip install --no-cache-dir -c constraints.txt .
ENV WINKEL_DATA_DIR=/var/lib/winkel
ENTRYPOINT ["winkel"]
