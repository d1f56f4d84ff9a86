# One image for every Dockyard component; docker-compose.yml runs each as its
# own container (etcd included), with a different command per service.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The real parts the services drive. The base image's policy-rc.d keeps
# etcd-server's postinst from trying to start a daemon during the build.
RUN apt-get update \
 && apt-get install -y --no-install-recommends etcd-server runc conmon iptables \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/dockyard
# Dependencies change less often than code: keep them in their own layer.
COPY pyproject.toml ./
COPY protos ./protos
COPY launcher ./launcher
COPY gateway ./gateway
COPY services ./services
RUN pip install . && rm -rf build

# Every service reads the daemon.json form (services.common.config). etcd runs
# in its own container on the host network, so 127.0.0.1 reaches it from every
# service (all of them use the host network too). Bind-mount a file over this
# one to change settings.
RUN mkdir -p /etc/dockyard \
 && printf '{\n  "etcd-endpoints": ["http://127.0.0.1:2379"]\n}\n' > /etc/dockyard/daemon.json

# The sources stay importable from /opt/dockyard, the installed package from anywhere.
WORKDIR /
CMD ["dockyard", "up", "--config-file", "/etc/dockyard/daemon.json"]
