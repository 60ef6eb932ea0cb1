# syntax=docker/dockerfile:1.7
# mpe-serve image. Two flavours from one file (docs/operations.md#images):
#   CPU  (default): docker build -t mpe-serve:cpu .
#   CUDA:           docker build --build-arg FLAVOR=cuda -t mpe-serve:cuda .
# The CUDA flavour runs on an NVIDIA CUDA 12 + cuDNN 9 runtime base and installs onnxruntime-node's
# CUDA 12 execution provider (downloaded by its install script during `npm ci`, so that build
# stage needs internet). test/deploy/dockerfile.test.ts runs this file's CMD and HEALTHCHECK here.

ARG NODE_IMAGE=node:20-bookworm-slim
# CUDA 12.x + cuDNN 9 runtime: what onnxruntime-node 1.2x/1.3x's cuda12 provider links against.
ARG CUDA_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu22.04
# cpu | cuda
ARG FLAVOR=cpu

# ---- build: full dependencies, TypeScript -> dist/ ----
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# The build only needs tsc: never download onnxruntime's CUDA libraries here. The variable wins
# over .npmrc (onnxruntime-node reads ONNXRUNTIME_NODE_INSTALL first).
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
# .dockerignore keeps test/, bench/ and loadtest/ out, so tsc compiles src/ only (rootDir '.':
# the entry point is dist/src/cli/main.js). Type errors fail the build.
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

# ---- deps: production dependencies only (no tsc, tsx, biome) ----
FROM ${NODE_IMAGE} AS deps
ARG FLAVOR
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# cpu: skip onnxruntime-node's CUDA download (its CPU provider ships inside the npm package).
# cuda: fetch the CUDA 12 execution provider libraries into node_modules/onnxruntime-node/bin.
RUN --mount=type=cache,target=/root/.npm \
    if [ "$FLAVOR" = cuda ]; then export ONNXRUNTIME_NODE_INSTALL=cuda12; else export ONNXRUNTIME_NODE_INSTALL=skip; fi \
    && npm ci --omit=dev --no-audit --no-fund \
    && if [ "$FLAVOR" = cuda ]; then test -f node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so; fi

# ---- runtime bases ----
FROM ${NODE_IMAGE} AS runtime-cpu
ENV MPE_PROVIDER=cpu

FROM ${NODE_IMAGE} AS node-bin
FROM ${CUDA_IMAGE} AS runtime-cuda
# Node's official linux-x64 build needs glibc >= 2.28 and libstdc++ (Ubuntu 22.04 has both).
COPY --from=node-bin /usr/local/bin/node /usr/local/bin/node
RUN node --version
# An explicit provider: on a node without a usable GPU the process refuses to start with the
# install hint instead of silently scoring on the CPU.
ENV MPE_PROVIDER=cuda

# ---- final image ----
FROM runtime-${FLAVOR} AS runtime
# A numeric non-root user, so Kubernetes' runAsNonRoot can verify it.
RUN groupadd --system --gid 10001 mpe \
    && useradd --system --uid 10001 --gid 10001 --home-dir /home/mpe --create-home --shell /usr/sbin/nologin mpe \
    && mkdir -p /bundles && chown 10001:10001 /bundles
# /bundles: where bundles are mounted (k8s PVC, compose volume; a new named volume copies this
# owner, so `mpe publish` and the demo bundle can write there in compose).
WORKDIR /app
ENV NODE_ENV=production \
    MPE_HOST=0.0.0.0 \
    MPE_DEMO_DIR=/tmp/mpe-demo
# The same layout as the repository: package.json ("type": "module"), dist/src, proto/ (read at
# run time by @grpc/proto-loader), bin/mpe.js (`mpe publish|rollback|status` inside the container).
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY package.json ./
COPY proto ./proto
COPY bin ./bin
COPY deploy/docker/healthcheck.mjs ./deploy/docker/healthcheck.mjs
RUN ln -s /app/bin/mpe.js /usr/local/bin/mpe
USER 10001:10001
# gRPC, HTTP (REST, /healthz, /readyz, /metrics): the defaults of src/config/config.ts.
EXPOSE 50051 8080
# node itself (no curl in the image); reads MPE_HTTP_PORT / MPE_HOST through the real config module.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["node", "deploy/docker/healthcheck.mjs"]
# Exec form: node is PID 1 and receives SIGTERM itself (graceful drain, exit 0). No npm or shell
# wrapper, which would swallow the signal.
CMD ["node", "dist/src/cli/main.js", "serve"]
