# One image for the brokerkit apps; compose/docker-compose.yml picks the command:
#   node apps/admin/dist/server.js | apps/subscriber/dist/cli.js | apps/publisher/dist/cli.js
# and without one it runs the embedded demo (`npm start`).
# Node 22: a few runtime dependencies (@nats-io/nuid, cookie) declare engines >= 22.
ARG NODE_VERSION=22

# --- build: dev dependencies and the TypeScript project build -----------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /src
# Manifests first so that the dependency layer is reused while only sources change. Every npm
# workspace of package.json needs its line here (compose/test checks that).
COPY package.json package-lock.json ./
COPY broker-adapters/core/package.json broker-adapters/core/
COPY broker-adapters/memory/package.json broker-adapters/memory/
COPY broker-adapters/contract-tests/package.json broker-adapters/contract-tests/
COPY broker-adapters/rabbitmq/package.json broker-adapters/rabbitmq/
COPY broker-adapters/nats/package.json broker-adapters/nats/
COPY broker-adapters/redis/package.json broker-adapters/redis/
COPY broker-adapters/metrics/package.json broker-adapters/metrics/
COPY apps/admin/package.json apps/admin/
COPY apps/publisher/package.json apps/publisher/
COPY apps/subscriber/package.json apps/subscriber/
COPY apps/demo/package.json apps/demo/
# The root `prepare` script is the build, which needs the sources: run it below instead.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npx tsc -b
# Hand on only what runs: each workspace's manifest, compiled output and bin/ launchers (the
# packages' `bin` entries: `npx brokerkit-publish` in the image). The contract-test suite
# stays behind: packages list it as a dev dependency, yet npm would link it and install its tap.
RUN mkdir -p /out \
 && cp package.json package-lock.json /out/ \
 && for dir in broker-adapters/* apps/*; do \
      [ "$dir" = broker-adapters/contract-tests ] && continue; \
      mkdir -p "/out/$dir" && cp "$dir/package.json" "/out/$dir/" \
      && if [ -d "$dir/dist" ]; then cp -r "$dir/dist" "/out/$dir/"; fi \
      && if [ -d "$dir/bin" ]; then cp -r "$dir/bin" "/out/$dir/"; fi; \
    done \
 && find /out -name '*.tsbuildinfo' -delete

# --- runtime: production dependencies only, non-root ---------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /out ./
# Only the apps' dependency trees (~55 MB of node_modules instead of ~210 MB with every workspace).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
      -w apps/admin -w apps/publisher -w apps/subscriber -w apps/demo \
 && npm cache clean --force
# The image's unprivileged user; the files stay root-owned, so the process cannot rewrite its code.
USER node
# admin (status page, /api, /metrics) and subscriber (/metrics, /readyz)
EXPOSE 3000 9465
ENV ADMIN_HOST=0.0.0.0
CMD ["node", "apps/demo/dist/main.js"]
