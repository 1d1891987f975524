"""The GraphQL API (Strawberry): thin resolvers over the application and the read models."""
