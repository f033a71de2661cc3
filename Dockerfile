# One image for every Sigil role (control plane, sidecar) and the demo services; the command picks the role.
FROM node:26-bookworm-slim
WORKDIR /opt/sigil
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts=false && npm cache clean --force
COPY common ./common
COPY control-plane ./control-plane
COPY sidecar ./sidecar
COPY proto ./proto
COPY cli ./cli
COPY examples ./examples
USER node
ENTRYPOINT ["node", "cli/sigil.ts"]
CMD ["--help"]
