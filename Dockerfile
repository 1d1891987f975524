# The rectify image: the API server and the projection worker run from it (see docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir .
ENV RECTIFY_HOST=0.0.0.0 RECTIFY_PORT=8000
EXPOSE 8000
ENTRYPOINT ["rectify"]
CMD ["serve"]
