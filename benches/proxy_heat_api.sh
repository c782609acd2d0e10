#!/usr/bin/env bash
# benches/proxy_heat_api.sh - the openstack CLI flow through `heatgate proxy`
# in front of the real Heat 27.0.1's heat-api; fails when a Location header
# heat-api answers through the proxy does not point back at the proxy.
#
# The setup (Keystone, RabbitMQ, MariaDB, Heat) is serve_side_by_side.sh's:
# this runs `benches/serve_side_by_side.sh --proxy-heat-api` (see its --help
# for what is checked and the environment it reads).
set -euo pipefail
exec "$(dirname -- "${BASH_SOURCE[0]}")/serve_side_by_side.sh" --proxy-heat-api "$@"
