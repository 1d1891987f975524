"""The Starlette app: GraphQL, notices, dashboard, health."""
