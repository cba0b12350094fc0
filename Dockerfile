# The gateway image. BASE_IMAGE is python:3.11-slim where a registry answers;
# ./deploy/up passes the offline Debian base (faas images build makes it) otherwise.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
ENV PATH=/opt/faas/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
# Wheels built on the host (deploy/up, when offline: the dependencies and the
# build backend) install without a network; without them pip fetches from PyPI.
# The project itself is always built from the sources copied here, never taken
# from a wheel an earlier run left behind.
COPY deploy/wheels /wheels
COPY pyproject.toml README.md /src/
COPY faas /src/faas
COPY gateway /src/gateway
COPY runtimes /src/runtimes
RUN python3 -m venv /opt/faas \
 && if ls /wheels/*.whl >/dev/null 2>&1; then \
      /opt/faas/bin/pip install --no-cache-dir --no-index --find-links /wheels /src; \
    else \
      /opt/faas/bin/pip install --no-cache-dir /src; \
    fi \
 && rm -rf /wheels /src
EXPOSE 8080
# SIGTERM (docker stop) is the graceful stop: drain, then remove function containers.
STOPSIGNAL SIGTERM
ENTRYPOINT ["faas"]
CMD ["serve"]
