#!/usr/bin/python3
"""Checks the manifests in deploy/kubernetes/ where `kubectl apply --dry-run=client --validate=false` against the fake
cannot (its client-side validation needs the apiserver's OpenAPI v2 document in protobuf):

  tests/kube_manifests.py DIR [--config-out FILE]

- every field of every object is one the Kubernetes API defines for its kind (the schemas below are the subset of
  the API these manifests may use, field names and types as in the API reference; a typo is an unknown field);
- the objects fit together: labels and selectors, the ports probes and the Service name, the ConfigMap, claim and
  ServiceAccount the pod uses, the RoleBindings' subjects and roles;
- RBAC grants exactly what hydra uses (the scaler: get workloads, get/update/patch their scale, create events;
  leader election: get/create/update leases), nothing more and no wildcards;
- with --config-out, the ConfigMap's hydra.cfg is written to FILE, for `hydra check-config`.
Prints one line per problem (file: path: what) and exits 1 when there is any, else prints "ok" and exits 0."""
import argparse
import os
import sys

import yaml

S, I, B = "string", "integer", "boolean"
INT_OR_STRING = "int-or-string"
QUANTITY = INT_OR_STRING
LABELS = {"*": S}

METADATA = {"name": S, "namespace": S, "labels": LABELS, "annotations": LABELS}
LABEL_SELECTOR = {"matchLabels": LABELS, "matchExpressions": [{"key": S, "operator": S, "values": [S]}]}
HTTP_GET = {"path": S, "port": INT_OR_STRING, "scheme": S, "host": S,
            "httpHeaders": [{"name": S, "value": S}]}
PROBE = {"httpGet": HTTP_GET, "tcpSocket": {"port": INT_OR_STRING}, "exec": {"command": [S]},
         "initialDelaySeconds": I, "periodSeconds": I, "timeoutSeconds": I, "successThreshold": I,
         "failureThreshold": I}
RESOURCES = {"requests": {"cpu": QUANTITY, "memory": QUANTITY, "ephemeral-storage": QUANTITY},
             "limits": {"cpu": QUANTITY, "memory": QUANTITY, "ephemeral-storage": QUANTITY}}
CONTAINER_SECURITY = {"allowPrivilegeEscalation": B, "readOnlyRootFilesystem": B, "runAsNonRoot": B,
                      "runAsUser": I, "runAsGroup": I, "capabilities": {"add": [S], "drop": [S]}}
CONTAINER = {
    "name": S, "image": S, "imagePullPolicy": S, "command": [S], "args": [S], "workingDir": S,
    "ports": [{"name": S, "containerPort": I, "protocol": S}],
    "env": [{"name": S, "value": S, "valueFrom": {"fieldRef": {"fieldPath": S},
                                                  "secretKeyRef": {"name": S, "key": S},
                                                  "configMapKeyRef": {"name": S, "key": S}}}],
    "livenessProbe": PROBE, "readinessProbe": PROBE, "startupProbe": PROBE, "resources": RESOURCES,
    "securityContext": CONTAINER_SECURITY,
    "volumeMounts": [{"name": S, "mountPath": S, "readOnly": B, "subPath": S}],
}
VOLUME = {"name": S, "configMap": {"name": S, "items": [{"key": S, "path": S}], "defaultMode": I},
          "secret": {"secretName": S, "defaultMode": I}, "emptyDir": {"medium": S, "sizeLimit": QUANTITY},
          "persistentVolumeClaim": {"claimName": S, "readOnly": B}}
POD_SPEC = {"serviceAccountName": S, "automountServiceAccountToken": B, "containers": [CONTAINER],
            "initContainers": [CONTAINER], "volumes": [VOLUME], "nodeSelector": LABELS,
            "terminationGracePeriodSeconds": I,
            "securityContext": {"runAsNonRoot": B, "runAsUser": I, "runAsGroup": I, "fsGroup": I}}
POLICY_RULE = {"apiGroups": [S], "resources": [S], "verbs": [S], "resourceNames": [S]}
SUBJECT = {"kind": S, "name": S, "namespace": S, "apiGroup": S}
SCHEMAS = {
    ("v1", "Namespace"): {"metadata": METADATA},
    ("v1", "ServiceAccount"): {"metadata": METADATA, "automountServiceAccountToken": B},
    ("v1", "ConfigMap"): {"metadata": METADATA, "data": LABELS},
    ("v1", "PersistentVolumeClaim"): {"metadata": METADATA, "spec": {
        "accessModes": [S], "storageClassName": S, "resources": {"requests": {"storage": QUANTITY}}}},
    ("v1", "Service"): {"metadata": METADATA, "spec": {
        "type": S, "selector": LABELS, "ports": [{"name": S, "port": I, "targetPort": INT_OR_STRING, "protocol": S}]}},
    ("apps/v1", "Deployment"): {"metadata": METADATA, "spec": {
        "replicas": I, "selector": LABEL_SELECTOR, "strategy": {"type": S}, "revisionHistoryLimit": I,
        "template": {"metadata": METADATA, "spec": POD_SPEC}}},
    ("rbac.authorization.k8s.io/v1", "Role"): {"metadata": METADATA, "rules": [POLICY_RULE]},
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): {"metadata": METADATA, "subjects": [SUBJECT],
                                                      "roleRef": {"apiGroup": S, "kind": S, "name": S}},
}
CLUSTER_SCOPED = {"Namespace"}
# What hydra does with the API, per Role: (api group, resource) -> verbs.
WANTED_RULES = {
    "hydra-scaler": {("apps", "deployments"): {"get"}, ("apps", "statefulsets"): {"get"},
                     ("apps", "deployments/scale"): {"get", "update", "patch"},
                     ("apps", "statefulsets/scale"): {"get", "update", "patch"}, ("", "events"): {"create"}},
    "hydra-leader-election": {("coordination.k8s.io", "leases"): {"get", "create", "update"}},
}
problems = []


def problem(where, path, text):
    problems.append(f"{where}: {path or '(document)'}: {text}")


def type_ok(value, kind):
    if kind == S:
        return isinstance(value, str)
    if kind == I:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == B:
        return isinstance(value, bool)
    return isinstance(value, (str, int)) and not isinstance(value, bool)  # int-or-string


def check(where, path, value, schema):
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return problem(where, path, "expected a mapping")
        for key, item in value.items():
            if "*" in schema:
                check(where, f"{path}.{key}", item, schema["*"])
            elif key not in schema:
                problem(where, f"{path}.{key}".lstrip("."), "unknown field")
            else:
                check(where, f"{path}.{key}".lstrip("."), item, schema[key])
    elif isinstance(schema, list):
        if not isinstance(value, list):
            return problem(where, path, "expected a list")
        for index, item in enumerate(value):
            check(where, f"{path}[{index}]", item, schema[0])
    elif not type_ok(value, schema):
        problem(where, path, f"expected {schema}, found {type(value).__name__} {value!r}")


def load(folder):
    objects = []
    for name in sorted(os.listdir(folder)):
        if not name.endswith((".yaml", ".yml")):
            continue
        with open(os.path.join(folder, name)) as file:
            for document in yaml.safe_load_all(file):
                if document is not None:
                    objects.append((name, document))
    return objects


def check_object(where, obj):
    key = (obj.get("apiVersion"), obj.get("kind"))
    schema = SCHEMAS.get(key)
    if schema is None:
        return problem(where, "", f"kind {key[1]} of {key[0]} is not one these manifests may use")
    meta = obj.get("metadata", {})
    if not meta.get("name"):
        problem(where, "metadata.name", "required")
    if key[1] not in CLUSTER_SCOPED and not meta.get("namespace"):
        problem(where, "metadata.namespace", "required: kubectl would put it in the current namespace")
    check(where, "", {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}, schema)


def named(objects, kind, namespace, name):
    return any(o.get("kind") == kind and o["metadata"].get("name") == name and
               o["metadata"].get("namespace") == namespace for _, o in objects)


def check_deployment(where, deployment, objects):
    spec = deployment["spec"]
    namespace = deployment["metadata"]["namespace"]
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"].get("labels", {})
    for key, value in spec["selector"].get("matchLabels", {}).items():
        if labels.get(key) != value:
            problem(where, "spec.selector.matchLabels", f"{key}={value} does not select the pod template's labels")
    if not named(objects, "ServiceAccount", namespace, pod.get("serviceAccountName")):
        problem(where, "spec.template.spec.serviceAccountName", "no such ServiceAccount in the manifests")
    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    for volume in volumes.values():
        if "configMap" in volume and not named(objects, "ConfigMap", namespace, volume["configMap"]["name"]):
            problem(where, f"volume {volume['name']}", "no such ConfigMap in the manifests")
        claim = volume.get("persistentVolumeClaim", {}).get("claimName")
        if claim and not named(objects, "PersistentVolumeClaim", namespace, claim):
            problem(where, f"volume {volume['name']}", "no such PersistentVolumeClaim in the manifests")
    for container in pod["containers"]:
        ports = {port.get("name"): port["containerPort"] for port in container.get("ports", [])}
        for mount in container.get("volumeMounts", []):
            if mount["name"] not in volumes:
                problem(where, f"container {container['name']}", f"mounts {mount['name']}, which is no volume")
        for probe in ("livenessProbe", "readinessProbe"):
            get = container.get(probe, {}).get("httpGet")
            if not get:
                problem(where, f"container {container['name']}.{probe}", "required: an httpGet probe")
            elif get["path"] != "/api/v1/health":
                problem(where, f"container {container['name']}.{probe}", "must ask /api/v1/health")
            elif isinstance(get["port"], str) and get["port"] not in ports:
                problem(where, f"container {container['name']}.{probe}", f"no port named {get['port']}")
    return labels, {port.get("name"): port["containerPort"] for c in pod["containers"] for port in c.get("ports", [])}


def check_rbac(objects):
    for where, role in objects:
        if role.get("kind") != "Role":
            continue
        name = role["metadata"]["name"]
        granted = {}
        for rule in role.get("rules", []):
            for group in rule.get("apiGroups", []):
                for resource in rule.get("resources", []):
                    granted.setdefault((group, resource), set()).update(rule.get("verbs", []))
        wanted = WANTED_RULES.get(name)
        if wanted is None:
            problem(where, f"Role {name}", "not a role hydra needs")
        elif granted != wanted:
            problem(where, f"Role {name}", f"grants {sorted((k, sorted(v)) for k, v in granted.items())}, hydra "
                    f"uses {sorted((k, sorted(v)) for k, v in wanted.items())}")
        bound = [o for _, o in objects if o.get("kind") == "RoleBinding" and o["roleRef"]["name"] == name and
                 o["metadata"]["namespace"] == role["metadata"]["namespace"]]
        if not bound:
            problem(where, f"Role {name}", "no RoleBinding gives it to anyone")
        for binding in bound:
            for subject in binding["subjects"]:
                if subject["kind"] != "ServiceAccount" or not named(objects, "ServiceAccount", subject["namespace"],
                                                                     subject["name"]):
                    problem(where, f"RoleBinding {binding['metadata']['name']}", "binds something other than "
                            "hydra's ServiceAccount")


def check_service(where, service, pod_labels, pod_ports):
    for key, value in service["spec"]["selector"].items():
        if pod_labels.get(key) != value:
            problem(where, "spec.selector", f"{key}={value} selects no hydra pod")
    for port in service["spec"]["ports"]:
        target = port.get("targetPort", port["port"])
        if (isinstance(target, str) and target not in pod_ports) or (isinstance(target, int) and
                                                                     target not in pod_ports.values()):
            problem(where, "spec.ports", f"targetPort {target} is no port of the pod")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("--config-out")
    options = parser.parse_args()
    objects = load(options.folder)
    for where, obj in objects:
        check_object(where, obj)
    if problems:  # the cross-checks below read fields the schemas vouched for
        print("\n".join(problems))
        return 1
    pod_labels, pod_ports = {}, {}
    for where, obj in objects:
        if obj["kind"] == "Deployment":
            pod_labels, pod_ports = check_deployment(where, obj, objects)
    for where, obj in objects:
        if obj["kind"] == "Service":
            check_service(where, obj, pod_labels, pod_ports)
        if obj["kind"] == "ConfigMap" and options.config_out:
            with open(options.config_out, "w") as file:
                file.write(obj["data"]["hydra.cfg"])
    check_rbac(objects)
    print("\n".join(problems) if problems else "ok")
    return 1 if problems else 0


sys.exit(main())
