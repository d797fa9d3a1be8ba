"""deploy/k8s/database/: PostgreSQL run by the CloudNativePG operator (a Cluster of a primary
and two standbys, WAL archiving and nightly base backups through the Barman Cloud plugin,
PgBouncer in front), checked against the operator's own API types.

The types come from npm, installed in the test run: ``@kubernetes-models/cloudnative-pg``,
generated from CloudNativePG's Go API (``github.com/cloudnative-pg/cloudnative-pg/api/v1``
and the barman-cloud configuration types). Two checks with them, each of which the other
misses:

- its JSON Schema validators (``Model.validate``): types, required fields, enums, formats;
- TypeScript's excess-property check (``tsc --strict``, each manifest as an object literal of
  the resource's interface): a misspelt field name is an error there, as kubernetes-validate's
  strict mode makes it for the core manifests (``tests/test_deploy_manifests.py``), where
  the schema validators let unknown fields through.

The plugin's ObjectStore kind has no published types; its ``configuration`` is the same
barman-cloud type as the in-tree one and is checked as that, the two keys around it by our
own reading of the plugin's documentation. Then the facts that tie the pieces together and
to the broker: the pooler's mode and cluster, the archive's name, the broker's egress.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_deploy_manifests import of_kind

ROOT = Path(__file__).resolve().parent.parent
DATABASE = ROOT / "deploy" / "k8s" / "database"
MODELS_DIR = ROOT / "var" / "npm" / "cloudnative-pg-models"
PACKAGES = {"@kubernetes-models/cloudnative-pg": "2.0.0", "typescript": "5.9.3"}
PACKAGE = "@kubernetes-models/cloudnative-pg"
BARMAN_CLOUD = "barman-cloud.cloudnative-pg.io"
# Where each kind's model lives in the package, and its interface and class names there.
MODELS = {
    "Cluster": ("postgresql.cnpg.io/v1/Cluster", "ICluster", "Cluster"),
    "Pooler": ("postgresql.cnpg.io/v1/Pooler", "IPooler", "Pooler"),
    "ScheduledBackup": (
        "postgresql.cnpg.io/v1/ScheduledBackup",
        "IScheduledBackup",
        "ScheduledBackup",
    ),
    "barman": (
        "github.com/cloudnative-pg/barman-cloud/pkg/api/BarmanObjectStoreConfiguration",
        "IBarmanObjectStoreConfiguration",
        "BarmanObjectStoreConfiguration",
    ),
}
OBJECT_STORE_KEYS = {"configuration", "retentionPolicy", "instanceSidecarConfiguration"}


def manifests() -> list[tuple[str, dict[str, Any]]]:
    """Every resource under deploy/k8s/database, with the file it is in (the restore
    example too: it is what an operator applies in an emergency)."""
    found = []
    for path in sorted(DATABASE.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            found += [(path.name, r) for r in yaml.safe_load_all(path.read_text()) if r]
    return found


def one(kind: str, name: str | None = None) -> dict[str, Any]:
    matches = [
        r
        for _, r in manifests()
        if r["kind"] == kind and (name is None or r["metadata"]["name"] == name)
    ]
    assert len(matches) == 1, (kind, name, len(matches))
    return matches[0]


def checked_parts() -> list[tuple[str, str, Any]]:
    """(label, model key, value) for each part the types check: a whole resource, or an
    ObjectStore's barman-cloud configuration."""
    parts = []
    for index, (file, resource) in enumerate(manifests()):
        label = f"{file}#{index} {resource['kind']}/{resource['metadata']['name']}"
        if resource["kind"] == "ObjectStore":
            parts.append((label, "barman", resource["spec"]["configuration"]))
        else:
            parts.append((label, resource["kind"], resource))
    return parts


@pytest.fixture(scope="session")
def models() -> Path:
    """The npm packages, installed once into var/ (pinned; npm's cache makes reruns quick)."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is needed for the CloudNativePG types (make node installs it)")
    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    manifest = {"name": "cloudnative-pg-models", "private": True, "dependencies": PACKAGES}
    package_json = MODELS_DIR / "package.json"
    wanted = json.dumps(manifest, indent=2)
    installed = MODELS_DIR / "node_modules" / PACKAGE / "package.json"
    if not installed.exists() or package_json.read_text() != wanted:
        package_json.write_text(wanted)
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=MODELS_DIR,
            check=True,
            capture_output=True,
            timeout=600,
        )
    return MODELS_DIR


def _schema_errors(models: Path, parts: list[tuple[str, str, Any]]) -> dict[str, str]:
    """Each part through its model's JSON Schema validator: label → error, for the failures."""
    imports = "\n".join(
        f'import {{ {cls} as M{key} }} from "{PACKAGE}/{path}";'
        for key, (path, _, cls) in MODELS.items()
    )
    script = f"""{imports}
const parts = {json.dumps(parts)};
const models = {{ {", ".join(f"{key}: M{key}" for key in MODELS)} }};
const errors = {{}};
for (const [label, key, value] of parts) {{
  try {{ new models[key](value).validate(); }} catch (error) {{ errors[label] = error.message; }}
}}
console.log(JSON.stringify(errors));
"""
    (models / "validate.mjs").write_text(script)
    node = shutil.which("node")
    assert node is not None
    done = subprocess.run(
        [node, "validate.mjs"], cwd=models, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    errors: dict[str, str] = json.loads(done.stdout)
    return errors


def _type_errors(models: Path, parts: list[tuple[str, str, Any]]) -> list[str]:
    """Each part as an object literal of its interface, through ``tsc --strict``."""
    lines = [
        f'import type {{ {interface} as I{key} }} from "{PACKAGE}/{path}";'
        for key, (path, interface, _) in MODELS.items()
    ]
    for index, (label, key, value) in enumerate(parts):
        lines.append(f"// {label}")
        lines.append(f"export const part{index}: I{key} = {json.dumps(value, indent=1)};")
    (models / "check.ts").write_text("\n".join(lines) + "\n")
    config = {
        "compilerOptions": {
            "strict": True,
            "noEmit": True,
            "module": "nodenext",
            "moduleResolution": "nodenext",
            "target": "es2022",
            "skipLibCheck": True,
        },
        "files": ["check.ts"],
    }
    (models / "tsconfig.json").write_text(json.dumps(config))
    tsc = models / "node_modules" / ".bin" / "tsc"
    done = subprocess.run(
        [str(tsc), "-p", "tsconfig.json"], cwd=models, capture_output=True, text=True, timeout=300
    )
    return [line for line in done.stdout.splitlines() if "error TS" in line]


def test_every_resource_passes_the_operators_schema_validators(models: Path) -> None:
    assert _schema_errors(models, checked_parts()) == {}


def test_every_resource_names_only_fields_the_operators_types_have(models: Path) -> None:
    assert _type_errors(models, checked_parts()) == []


def test_the_checks_catch_a_misspelt_field_a_wrong_enum_and_a_wrong_type(models: Path) -> None:
    """The two checks can fail: each catches what it is there for."""
    cluster = one("Cluster", "exchange-db")
    misspelt = {**cluster, "spec": {**cluster["spec"], "instancez": 3}}
    pooler = one("Pooler")
    wrong_mode = {
        **pooler,
        "spec": {**pooler["spec"], "pgbouncer": {**pooler["spec"]["pgbouncer"], "poolMode": "x"}},
    }
    wrong_type = {**cluster, "spec": {**cluster["spec"], "instances": "three"}}
    parts = [
        ("misspelt", "Cluster", misspelt),
        ("wrong mode", "Pooler", wrong_mode),
        ("wrong type", "Cluster", wrong_type),
    ]
    typed = _type_errors(models, parts)
    assert any("instancez" in line for line in typed), typed
    assert any('"x"' in line for line in typed), typed
    assert set(_schema_errors(models, parts)) == {"wrong mode", "wrong type"}


def test_the_object_store_has_only_the_plugins_keys_around_its_configuration() -> None:
    store = one("ObjectStore")
    assert store["apiVersion"] == "barmancloud.cnpg.io/v1"
    assert set(store["spec"]) <= OBJECT_STORE_KEYS
    credentials = store["spec"]["configuration"]["s3Credentials"]
    # References to a Secret, never a value in the repository.
    assert all(set(ref) == {"name", "key"} for ref in credentials.values())


def test_the_cluster_is_highly_available_and_loses_no_acknowledged_commit() -> None:
    spec = one("Cluster", "exchange-db")["spec"]
    assert spec["instances"] >= 3
    assert spec["affinity"]["podAntiAffinityType"] == "required"
    synchronous = spec["postgresql"]["synchronous"]
    assert synchronous["number"] >= 1 and synchronous["dataDurability"] == "required"
    # The server's log never carries a statement's parameters (pseudonyms, search values).
    parameters = spec["postgresql"]["parameters"]
    assert parameters["log_parameter_max_length_on_error"] == "0"
    assert parameters["log_parameter_max_length"] == "0"


def test_wal_is_archived_to_the_object_store_and_backed_up_every_night() -> None:
    store = one("ObjectStore")["metadata"]["name"]
    [archiver] = [p for p in one("Cluster", "exchange-db")["spec"]["plugins"] if p["isWALArchiver"]]
    assert archiver["name"] == BARMAN_CLOUD
    assert archiver["parameters"]["barmanObjectName"] == store
    nightly = one("ScheduledBackup")["spec"]
    assert nightly["cluster"]["name"] == "exchange-db"
    assert nightly["method"] == "plugin"
    assert nightly["pluginConfiguration"]["name"] == BARMAN_CLOUD


def test_the_restore_example_recovers_to_a_point_in_time_into_a_new_cluster() -> None:
    restored = one("Cluster", "exchange-db-restored")["spec"]
    recovery = restored["bootstrap"]["recovery"]
    assert recovery["recoveryTarget"]["targetTime"]
    [source] = [c for c in restored["externalClusters"] if c["name"] == recovery["source"]]
    assert source["plugin"]["name"] == BARMAN_CLOUD
    assert source["plugin"]["parameters"]["serverName"] == "exchange-db"
    # It archives under a name of its own, not into the WAL of the cluster it came from.
    [archiver] = [p for p in restored["plugins"] if p["isWALArchiver"]]
    assert archiver["parameters"]["serverName"] != "exchange-db"
    listed = yaml.safe_load((DATABASE / "kustomization.yaml").read_text())["resources"]
    assert "restore.example.yaml" not in listed


def test_the_kustomization_applies_every_resource_but_the_restore_example() -> None:
    listed = yaml.safe_load((DATABASE / "kustomization.yaml").read_text())["resources"]
    present = {p.name for p in DATABASE.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(listed) == present - {"restore.example.yaml"}


def test_the_pooler_pools_by_transaction_in_front_of_the_primary() -> None:
    spec = one("Pooler")["spec"]
    assert spec["cluster"]["name"] == "exchange-db"
    assert spec["type"] == "rw"
    assert spec["pgbouncer"]["poolMode"] == "transaction"


def test_the_broker_may_reach_the_pooler_and_nothing_else_of_the_database_tier() -> None:
    pooler = one("Pooler")
    pod_labels = pooler["spec"]["template"]["metadata"]["labels"]
    egress = of_kind("NetworkPolicy", "exchange")["spec"]["egress"]
    to_postgres = [
        peer["podSelector"]["matchLabels"]
        for rule in egress
        if any(port["port"] == 5432 for port in rule.get("ports", []))
        for peer in rule["to"]
        if "podSelector" in peer
    ]
    assert any(labels.items() <= pod_labels.items() for labels in to_postgres), (
        "no egress rule lets the broker reach the pooler's pods"
    )
