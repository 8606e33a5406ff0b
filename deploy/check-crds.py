#!/usr/bin/env python3
"""Validates the CloudNativePG objects of a rendered overlay offline and checks that the
platform fits them; writes every other object to OUT for kubernetes-validate.

    deploy/check-crds.py RENDERED.yaml OUT.yaml

- Cluster and Pooler against deploy/schemas/cloudnative-pg.json (the fields we use, from
  the operator's API reference; unknown fields are errors), and PrometheusRule against
  deploy/schemas/prometheus-rule.json (its PromQL: deploy/check-observability);
- the Pooler serves a Cluster of the overlay, in transaction mode, with prepared
  statements carried (max_prepared_statements > 0: the services prepare statements);
- every migrate init container reads the direct URL (migrate-url), never the pooler's;
- every container of a service pod mounts the operator's CA certificate (and only it) to
  verify the database server (sslmode=verify-full);
- sizing at the largest scale the HPAs allow: every service pod's pool fits one pooler
  instance's max_client_conn, and every pooler's server connections, the migrations' and
  a reserve fit the Cluster's max_connections.
"""
import json
import sys
from pathlib import Path

import jsonschema
import yaml

# Connections a migrate init container's pool may open (the services' pools open lazily,
# one migration runs at a time per schema), and connections kept for administrators,
# the operator and replication.
RESERVED = 20


def fail(message):
    print(f"check-crds: {message}", file=sys.stderr)
    sys.exit(1)


def check_server_verified(name, pod, ca_secret):
    """Every container of a service pod (the migrate init container too) can verify the
    database server: the operator's CA certificate is mounted, and only it (the same
    Secret holds the CA's private key)."""
    ca_volumes = {v["name"] for v in pod.get("volumes", [])
                  if v.get("secret", {}).get("secretName") == ca_secret}
    if not ca_volumes:
        fail(f"{name}: does not mount {ca_secret}, which its sslmode=verify-full URLs need")
    for v in pod["volumes"]:
        if v["name"] in ca_volumes:
            keys = [i["key"] for i in v["secret"].get("items", [])]
            if keys != ["ca.crt"]:
                fail(f"{name}: mounts {keys or 'every key'} of {ca_secret}; only ca.crt (never the CA's key)")
    for c in pod.get("initContainers", []) + pod["containers"]:
        if not any(m["name"] in ca_volumes for m in c.get("volumeMounts", [])):
            fail(f"{name}: container {c['name']} cannot verify the database server ({ca_secret} not mounted)")


def main(rendered, out):
    docs = [d for d in yaml.safe_load_all(Path(rendered).read_text()) if d]
    schemas = Path(__file__).parent / "schemas"
    schema = json.loads((schemas / "cloudnative-pg.json").read_text())
    ours = [d for d in docs if d.get("apiVersion", "").startswith("postgresql.cnpg.io/")]
    rules = [d for d in docs if d.get("apiVersion", "").startswith("monitoring.coreos.com/")]
    rest = [d for d in docs if d not in ours and d not in rules]
    Path(out).write_text(yaml.safe_dump_all(rest, sort_keys=False))
    rule_schema = json.loads((schemas / "prometheus-rule.json").read_text())
    for d in rules:
        try:
            jsonschema.validate(d, rule_schema)
        except jsonschema.ValidationError as e:
            where = "/".join(str(p) for p in e.absolute_path)
            fail(f"{d.get('kind')} {d['metadata'].get('name')}: {where}: {e.message}")
    watched = f"; {len(rules)} PrometheusRule valid" if rules else ""
    if not ours:
        return "no CloudNativePG objects" + watched
    for d in ours:
        try:
            jsonschema.validate(d, schema)
        except jsonschema.ValidationError as e:
            where = "/".join(str(p) for p in e.absolute_path)
            fail(f"{d.get('kind')} {d['metadata'].get('name')}: {where}: {e.message}")

    clusters = {d["metadata"]["name"]: d for d in ours if d["kind"] == "Cluster"}
    poolers = [d for d in ours if d["kind"] == "Pooler"]
    if len(clusters) != 1 or not poolers:
        fail("expected one Cluster and a Pooler in front of it")
    (cluster,) = clusters.values()
    spec = cluster["spec"]
    if spec["instances"] < 2 or "synchronous" not in spec.get("postgresql", {}):
        fail("the Cluster must have a synchronous standby (instances >= 2, postgresql.synchronous)")
    max_connections = int(spec["postgresql"].get("parameters", {}).get("max_connections", "100"))

    deployments = [d for d in rest if d.get("kind") == "Deployment"]
    hpas = {d["spec"]["scaleTargetRef"]["name"]: d for d in rest if d.get("kind") == "HorizontalPodAutoscaler"}
    config = next((d for d in rest if d.get("kind") == "ConfigMap" and d["metadata"]["name"] == "kuajing-config"), {})
    pool = int(config.get("data", {}).get("KJ_DB_MAX_CONNECTIONS", "8"))
    clients = 0
    ca_secret = f"{cluster['metadata']['name']}-ca"
    for dep in deployments:
        name = dep["metadata"]["name"]
        check_server_verified(name, dep["spec"]["template"]["spec"], ca_secret)
        for init in dep["spec"]["template"]["spec"].get("initContainers", []):
            for env in init.get("env", []):
                if env["name"] == "KJ_DATABASE_URL":
                    key = env["valueFrom"]["secretKeyRef"]["key"]
                    if key != "migrate-url":
                        fail(f"{name}: the migrate init container reads {key!r}, not the direct migrate-url")
        if name not in hpas:
            fail(f"{name}: no HorizontalPodAutoscaler to size by")
        clients += hpas[name]["spec"]["maxReplicas"] * pool

    # The services' runtime roles go through the pooler, one pool per role and instance.
    roles = len(deployments)
    servers = 0
    for p in poolers:
        ps = p["spec"]
        if ps["cluster"]["name"] != cluster["metadata"]["name"]:
            fail(f"Pooler {p['metadata']['name']} serves {ps['cluster']['name']}, not a Cluster of this overlay")
        bouncer = ps["pgbouncer"]
        params = bouncer.get("parameters", {})
        if bouncer.get("poolMode") != "transaction":
            fail(f"Pooler {p['metadata']['name']}: poolMode must be transaction")
        if int(params.get("max_prepared_statements", "0")) <= 0:
            fail(f"Pooler {p['metadata']['name']}: max_prepared_statements must be > 0 (the services prepare statements)")
        if int(params.get("max_client_conn", "100")) < clients:
            fail(f"Pooler {p['metadata']['name']}: max_client_conn {params.get('max_client_conn')} < {clients} "
                 f"(every service pod at the HPAs' maximum x KJ_DB_MAX_CONNECTIONS {pool})")
        servers += ps.get("instances", 1) * roles * int(params.get("default_pool_size", "20"))
    migrations = len(deployments) * pool
    if servers + migrations + RESERVED > max_connections:
        fail(f"max_connections {max_connections} < {servers} (poolers) + {migrations} (migrations) + {RESERVED} (reserve)")
    return (f"{len(ours)} CloudNativePG objects valid; at the largest scale {clients} client connections "
            f"to the pooler, {servers + migrations + RESERVED} of {max_connections} server connections{watched}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        fail(__doc__.strip().splitlines()[2].strip())
    print(main(sys.argv[1], sys.argv[2]))
