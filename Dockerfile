# One image for every Sigil role (control plane, sidecar) and the demo services; the command picks the role.
# The image runs the compiled JavaScript (dist/), built in a first stage with the project's pinned TypeScript; the
# TypeScript sources, the compiler and the dev dependencies stay out of it.

FROM node:26-bookworm-slim AS build
WORKDIR /opt/sigil
COPY package.json package-lock.json ./
# --ignore-scripts: this image already is Node 26, so the `node` devDependency's installer has nothing to do, and the
# `prepare` build needs the sources, which come next.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY bench/bench-catalogue.ts ./bench/bench-catalogue.ts
COPY common ./common
COPY control-plane ./control-plane
COPY sidecar ./sidecar
COPY proto ./proto
COPY cli ./cli
RUN node cli/launcher/build.ts

FROM node:26-bookworm-slim
WORKDIR /opt/sigil
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /opt/sigil/dist ./dist
# The demo's two services (docker-compose.yml) are small TypeScript programs Node 26 runs as they are.
COPY examples ./examples
# The sidecar's stateDir in the demo: a named volume mounted here starts with this owner.
RUN mkdir -p /var/lib/sigil && chown node:node /var/lib/sigil && chmod 700 /var/lib/sigil
USER node
ENTRYPOINT ["node", "dist/cli/sigil.js"]
CMD ["--help"]
