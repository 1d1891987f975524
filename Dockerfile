# The rectify image: the API server and the projection worker run from it (see docker-compose.yml).

# The front-end libraries the app serves itself (GraphiQL, React, the graphql-ws client).
FROM node:20-slim AS assets
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error

FROM python:3.11-slim
# Pango and a CJK font for the PDF notices.
RUN apt-get update && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir ".[pdf]"
COPY --from=assets /app/node_modules ./node_modules
ENV RECTIFY_HOST=0.0.0.0 RECTIFY_PORT=8000
EXPOSE 8000
ENTRYPOINT ["rectify"]
CMD ["serve"]
