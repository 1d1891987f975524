// The graphql-http audit of GraphQL over HTTP (the npm devDependency) against a live server:
//   node tests/api/graphql_http_audit.cjs http://127.0.0.1:8000/graphql
// prints one JSON line per audit: {"id", "name", "status": "ok" | "warn" | "error", "reason"}.
"use strict";

const { auditServer } = require("graphql-http");

auditServer({ url: process.argv[2] }).then((results) => {
  for (const { id, name, status, reason } of results) {
    console.log(JSON.stringify({ id, name, status, reason: reason || null }));
  }
});
