# syntax=docker/dockerfile:1
# keywatch: multi-stage build. The build stage compiles TypeScript and better-sqlite3's native addon;
# the runtime stage holds only the compiled JS, production node_modules and the bundled configs.
#
#   docker build -t keywatch .
#   docker run -d -p 9477:9477 -v keywatch-data:/data \
#     -v $PWD/deploy/docker/keywatch.yaml:/etc/keywatch/keywatch.yaml:ro \
#     -e OPENROUTER_API_KEY keywatch
#   docker run --rm -p 9477:9477 --entrypoint keywatch keywatch demo --listen 0.0.0.0:9477 --data /data

ARG NODE_IMAGE=node:24-bookworm-slim

# ---- build: dev dependencies, tsc, and a production-only node_modules ----
FROM ${NODE_IMAGE} AS build
# better-sqlite3 downloads a prebuilt addon when one matches; these build it from source when not.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY probes ./probes
COPY providers ./providers
COPY bench ./bench
RUN npm run build
# Drop dev dependencies in place: the native addon built above is kept, not rebuilt. Then keep only
# better-sqlite3's compiled addon, not its SQLite sources and object files (~20 MB).
RUN npm prune --omit=dev --no-audit --no-fund \
 && b=node_modules/better-sqlite3 \
 && cp $b/build/Release/better_sqlite3.node /tmp/ \
 && rm -rf $b/build $b/deps $b/src \
 && mkdir -p $b/build/Release \
 && mv /tmp/better_sqlite3.node $b/build/Release/

# ---- runtime ----
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    KEYWATCH_CONFIG=/etc/keywatch/keywatch.yaml
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY config ./config
COPY schemas ./schemas
COPY deploy/docker/keywatch.yaml /etc/keywatch/keywatch.yaml
# `keywatch` on PATH; the data directory belongs to the unprivileged `node` user (uid 1000) that
# the official image ships; the code stays root-owned and read-only to it.
RUN chmod 0755 bin/keywatch.js \
 && ln -s /app/bin/keywatch.js /usr/local/bin/keywatch \
 && mkdir -p /data \
 && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 9477
# /healthz answers while the process is alive; node's fetch needs no curl in the image.
# A config that listens elsewhere sets KEYWATCH_HEALTHCHECK_URL (e.g. -e KEYWATCH_HEALTHCHECK_URL=http://127.0.0.1:8080/healthz).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.KEYWATCH_HEALTHCHECK_URL || 'http://127.0.0.1:9477/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["keywatch", "run"]
