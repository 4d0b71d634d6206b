#!/usr/bin/env bash
# The README's walk-through: register, log in, create a connection, list products and stock.
# Usage: examples/api.sh [base-url]   (default http://127.0.0.1:8000). Needs curl and jq.
set -euo pipefail
base="${1:-http://127.0.0.1:8000}/api/v1"
email="demo-$(date +%s)@example.com"
password="correct horse battery"

curl -sf -X POST "$base/auth/register" -H 'content-type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"$password\",\"company_name\":\"Demo\"}" | jq '{tenant, user, role}'
token=$(curl -sf -X POST "$base/auth/login" -H 'content-type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"$password\"}" | jq -r .access_token)
curl -sf -X POST "$base/connections" -H "authorization: Bearer $token" -H 'content-type: application/json' \
  -d '{"marketplace":"wildberries","name":"WB main","credentials":{"token":"example-token"}}' | jq .
curl -sf "$base/products?limit=10" -H "authorization: Bearer $token" | jq .
curl -sf "$base/stocks?low=true" -H "authorization: Bearer $token" | jq .
