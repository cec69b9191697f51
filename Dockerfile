# The edgeslim pipeline image: set up exactly as the README does (scripts/setup.sh: Debian
# packages, .venv with the pinned CPU torch, edgeslim with its extras), the CLI as entry point.
#
#   docker build -t edgeslim .
#   docker build --build-arg EDGESLIM_SKIP_APT=1 -t edgeslim:slim .   # no toolchains/chromium
#   docker run --rm -v "$PWD/out:/work" edgeslim prune compare cnn --data digits \
#       --methods magnitude,channel-l2 --sparsity 0.5,0.7,0.9
FROM python:3.11-slim-bookworm

ARG EDGESLIM_SKIP_APT=0
# Set to PyTorch's CPU-only wheel index to keep the image small (PyPI's Linux torch is a CUDA build).
ARG TORCH_INDEX_URL=""
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    MPLBACKEND=Agg \
    VENV=/opt/edgeslim/.venv \
    PATH=/opt/edgeslim/.venv/bin:$PATH

WORKDIR /opt/edgeslim
COPY pyproject.toml README.md Makefile ./
COPY scripts/ scripts/
COPY src/ src/
COPY recipes/ recipes/
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN EDGESLIM_SKIP_APT="${EDGESLIM_SKIP_APT}" TORCH_INDEX_URL="${TORCH_INDEX_URL}" \
    bash scripts/setup.sh \
    && rm -rf /var/lib/apt/lists/* /root/.cache \
    && edgeslim --version \
    && useradd --create-home --uid 10001 --user-group edgeslim \
    && mkdir -p /work && chown edgeslim:edgeslim /work

USER 10001:10001
WORKDIR /work
ENV EDGESLIM_STORE=/work/edgeslim.db
ENTRYPOINT ["edgeslim"]
CMD ["--help"]
