#!/usr/bin/python3
"""A fake Kubernetes API server for tests: what kubectl 1.32 and hydra's kubernetes scaler use, over TLS, from
Python's standard library. It prints its port on its first line and exits when its standard input closes.

  tests/kube_fake.py DIR --cert server.pem --key server.key --client-ca ca.pem
                         [--token TOKEN=USER ...] [--viewer USER ...]

Served like a real apiserver (protocols.md sections A and B): /version (minor "32", which the kubectl dispatcher
needs), legacy discovery (/api, /apis, one APIResourceList per group version), and for every resource it knows GET/LIST/POST/PUT/PATCH/DELETE with
resourceVersion checks (a stale one answers 409 Conflict as a Status). Deployments and StatefulSets have the scale
subresource; their status follows spec.replicas at once (every replica ready) unless the test sets it.

Who may do what: a bearer token given with --token, or a client certificate signed by --client-ca (its CN is the
user). Without either, 401. A user named with --viewer may only get, list and watch: anything else is 403.

Controls for the tests, under /fake/ (no authentication):
  POST   /fake/objects          body: an object; stored as is (created or replaced), status filled in for workloads
  GET    /fake/objects?apiVersion=&kind=&namespace=&name=   the stored object (404 when none)
  POST   /fake/patch            {"apiVersion","kind","namespace","name","patch"}: a merge patch, as another client
                                would make it (the resourceVersion moves)
  POST   /fake/faults           {"method","path","status","count","retry_after","delay","message","then_patch"}:
                                the next `count` requests whose method matches (when given) and whose path contains
                                `path` answer `status` (429 as the flow-control filter does, with Retry-After and a
                                text body; others as a Status), after `delay` seconds. With then_patch (and no
                                status) the request is served, then the patch is applied to the object it read:
                                a concurrent change between a client's GET and its PUT.
  DELETE /fake/faults           forgets every fault
  GET    /fake/requests         [{"method","path","query","content_type","user","status"}, ...] in order
What it does not do: protobuf bodies (`kubectl create` of a built-in kind sends one; answered 415), watches,
OpenAPI documents (so `kubectl apply` needs --validate=false), server-side apply, garbage collection.
DIR is not used (peers.h gives every peer one)."""
import argparse
import copy
import datetime
import http.server
import json
import ssl
import sys
import threading
import time
import urllib.parse
import uuid

parser = argparse.ArgumentParser()
parser.add_argument("dir")
parser.add_argument("--cert", required=True)
parser.add_argument("--key", required=True)
parser.add_argument("--client-ca", required=True)
parser.add_argument("--token", action="append", default=[])
parser.add_argument("--viewer", action="append", default=[])
options = parser.parse_args()
TOKENS = dict(entry.split("=", 1) for entry in options.token)

# (group, version) -> [(plural, kind, namespaced, short names, verbs)]
ALL_VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]
RESOURCES = {
    ("", "v1"): [
        ("namespaces", "Namespace", False, ["ns"]),
        ("events", "Event", True, ["ev"]),
        ("configmaps", "ConfigMap", True, ["cm"]),
        ("services", "Service", True, ["svc"]),
        ("serviceaccounts", "ServiceAccount", True, ["sa"]),
        ("persistentvolumeclaims", "PersistentVolumeClaim", True, ["pvc"]),
    ],
    ("apps", "v1"): [
        ("deployments", "Deployment", True, ["deploy"]),
        ("statefulsets", "StatefulSet", True, ["sts"]),
    ],
    ("coordination.k8s.io", "v1"): [("leases", "Lease", True, [])],
    ("rbac.authorization.k8s.io", "v1"): [
        ("roles", "Role", True, []),
        ("rolebindings", "RoleBinding", True, []),
        ("clusterroles", "ClusterRole", False, []),
        ("clusterrolebindings", "ClusterRoleBinding", False, []),
    ],
}
SCALABLE = {"deployments", "statefulsets"}
lock = threading.RLock()
store = {}  # (group, plural, namespace, name) -> object
revision = [100]
faults = []
requests_seen = []


def group_version(group, version):
    return f"{group}/{version}" if group else version


def find_resource(group, version, plural):
    for entry in RESOURCES.get((group, version), []):
        if entry[0] == plural:
            return entry
    return None


def resource_of_kind(api_version, kind):
    group, _, version = api_version.rpartition("/")
    for entry in RESOURCES.get((group, version), []):
        if entry[1] == kind:
            return group, version, entry
    return None


def now_text(micro=False):
    stamp = datetime.datetime.now(datetime.timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


def next_revision():
    revision[0] += 1
    return str(revision[0])


def merge(target, patch):
    """RFC 7386: null deletes, objects merge, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


def json_patch(document, operations):
    """RFC 6902 for the operations kubectl sends; raises ValueError when one cannot apply."""
    document = copy.deepcopy(document)
    for operation in operations:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in operation["path"].split("/")[1:]]
        parent = document
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent.get(part)
            if parent is None:
                raise ValueError(f"path {operation['path']} does not exist")
        last, op = parts[-1], operation["op"]
        if op == "test":
            if parent.get(last) != operation["value"]:
                raise ValueError(f"testing value {operation['path']} failed")
        elif op in ("add", "replace"):
            if op == "replace" and last not in parent:
                raise ValueError(f"replace operation does not apply: doc is missing key: {operation['path']}")
            parent[last] = operation["value"]
        elif op == "remove":
            if last not in parent:
                raise ValueError(f"remove operation does not apply: doc is missing key: {operation['path']}")
            del parent[last]
        else:
            raise ValueError(f"unsupported operation {op}")
    return document


def status_object(code, reason, message, details=None):
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}
    if details:
        body["details"] = details
    return code, body


def qualified(group, plural):
    return f"{plural}.{group}" if group else plural


def not_found(group, plural, name):
    return status_object(404, "NotFound", f'{qualified(group, plural)} "{name}" not found',
                         {"name": name, "group": group, "kind": plural})


def conflict(group, plural, name):
    return status_object(409, "Conflict", f'Operation cannot be fulfilled on {qualified(group, plural)} "{name}": '
                         "the object has been modified; please apply your changes to the latest version and try "
                         "again", {"name": name, "group": group, "kind": plural})


# ## Workloads: status that follows spec, and their Scale ----------------------------------------------------------

def selector_text(workload):
    labels = workload.get("spec", {}).get("selector", {}).get("matchLabels", {})
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def settle(plural, workload, spec_changed):
    """The fake's controllers: every asked-for replica is ready at once, unless a test set the status itself."""
    meta = workload["metadata"]
    if spec_changed:
        meta["generation"] = meta.get("generation", 0) + 1
    if plural not in SCALABLE:
        return
    spec = workload.setdefault("spec", {})
    replicas = spec.setdefault("replicas", 1)
    status = workload.setdefault("status", {})
    if spec_changed and not meta.get("annotations", {}).get("fake.hydra.io/hold-status") == "true":
        status.update({"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
                       "updatedReplicas": replicas})
        if plural == "statefulsets":
            status["currentReplicas"] = replicas
    status["observedGeneration"] = meta["generation"]


def scale_of(workload):
    meta = workload["metadata"]
    replicas = workload.get("spec", {}).get("replicas", 0)
    scale = {"kind": "Scale", "apiVersion": "autoscaling/v1",
             "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")},
             "spec": {"replicas": replicas} if replicas else {},  # omitempty, as the real one
             "status": {"replicas": workload.get("status", {}).get("replicas", 0),
                        "selector": selector_text(workload)}}
    return scale


def ensure_namespace(namespace):
    """A control-made object's namespace exists, as it would in a cluster where someone made it."""
    if namespace and ("", "namespaces", None, namespace) not in store:
        store_put("", "namespaces", None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace},
                                           "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})


def store_put(group, plural, namespace, obj, spec_changed=True):
    meta = obj.setdefault("metadata", {})
    key = (group, plural, namespace, meta["name"])
    old = store.get(key)
    meta.setdefault("uid", old["metadata"]["uid"] if old else str(uuid.uuid4()))
    meta.setdefault("creationTimestamp", old["metadata"]["creationTimestamp"] if old else now_text())
    if old:
        meta["generation"] = old["metadata"].get("generation", 1)
        spec_changed = spec_changed and old.get("spec") != obj.get("spec")
    if namespace:
        meta["namespace"] = namespace
    meta["resourceVersion"] = next_revision()
    settle(plural, obj, spec_changed or not old)
    store[key] = obj
    return obj


# ## Requests ---------------------------------------------------------------------------------------------------

def parse_path(path):
    """(group, version, namespace, plural, name, subresource) or None."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        entry = find_resource(group, version, rest[2])
        if entry and entry[2]:
            namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        return None
    return (group, version, namespace, rest[0], rest[1] if len(rest) > 1 else None, rest[2] if len(rest) > 2 else None)


def verb_of(method, name):
    return {"GET": "get" if name else "list", "POST": "create", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete"}.get(method, method.lower())


def field_matches(obj, selector):
    for term in filter(None, selector.split(",")):
        field, _, wanted = term.partition("=")
        value = obj
        for part in field.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if str(value if value is not None else "") != wanted.lstrip("="):
            return False
    return True


def list_objects(group, version, plural, kind, namespace, query):
    selector = query.get("fieldSelector", [""])[0]
    items = [copy.deepcopy(obj) for (g, p, ns, _), obj in sorted(store.items())
             if g == group and p == plural and (namespace is None or ns == namespace) and field_matches(obj, selector)]
    return 200, {"kind": kind + "List", "apiVersion": group_version(group, version),
                 "metadata": {"resourceVersion": str(revision[0])}, "items": items}


def age(obj):
    created = obj.get("metadata", {}).get("creationTimestamp") or obj.get("lastTimestamp")
    if not created:
        return "<unknown>"
    then = datetime.datetime.strptime(created[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    seconds = max(0, int((datetime.datetime.now(datetime.timezone.utc) - then).total_seconds()))
    return f"{seconds}s" if seconds < 120 else f"{seconds // 60}m" if seconds < 7200 else f"{seconds // 3600}h"


def columns_of(plural, obj):
    """What `kubectl get` prints for a kind: the server's columns, as a real apiserver's table printers give them."""
    status = obj.get("status", {})
    if plural == "deployments":
        return [("Ready", f'{status.get("readyReplicas", 0)}/{obj.get("spec", {}).get("replicas", 0)}'),
                ("Up-to-date", status.get("updatedReplicas", 0)), ("Available", status.get("availableReplicas", 0))]
    if plural == "statefulsets":
        return [("Ready", f'{status.get("readyReplicas", 0)}/{obj.get("spec", {}).get("replicas", 0)}')]
    if plural == "events":
        about = obj.get("involvedObject", {})
        return [("Last Seen", age({"lastTimestamp": obj.get("lastTimestamp")})), ("Type", obj.get("type", "")),
                ("Reason", obj.get("reason", "")), ("Object", f'{about.get("kind", "").lower()}/{about.get("name")}'),
                ("Message", obj.get("message", ""))]
    return []


def as_table(plural, answer):
    """A meta.k8s.io/v1 Table of an object or a list, for clients that ask for one in Accept."""
    items = answer.get("items", [answer]) if isinstance(answer, dict) else []
    extra = columns_of(plural, items[0] if items else {})
    names = ["Name"] + [name for name, _ in extra] + ([] if plural == "events" else ["Age"])
    if plural == "events":
        names = [name for name, _ in extra]
    definitions = [{"name": name, "type": "string", "format": "name" if name == "Name" else "", "description": "",
                    "priority": 0} for name in names]
    rows = []
    for item in items:
        cells = [value for _, value in columns_of(plural, item)]
        if plural != "events":
            cells = [item["metadata"]["name"]] + cells + [age(item)]
        rows.append({"cells": cells, "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                                "metadata": item.get("metadata", {})}})
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": answer.get("metadata", {}).get("resourceVersion", "")},
            "columnDefinitions": definitions, "rows": rows}


def decode_patch(content_type, body, current):
    """The patched object, or a (code, Status) tuple."""
    kind = (content_type or "").split(";")[0].strip()
    if kind in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
        return merge(current, json.loads(body))
    if kind == "application/json-patch+json":
        try:
            return json_patch(current, json.loads(body))
        except (ValueError, KeyError, IndexError, TypeError) as error:
            return status_object(422, "Invalid", f"the server rejected our request due to an error in our request: "
                                 f"{error}")
    return status_object(415, "UnsupportedMediaType", f'the body of the request was in an unknown format - accepted '
                         'media types include: application/json-patch+json, application/merge-patch+json, '
                         'application/apply-patch+yaml')


def check_replicas(name, scale):
    replicas = scale.get("spec", {}).get("replicas", 0)
    if not isinstance(replicas, int) or replicas < 0:
        return status_object(422, "Invalid", f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: '
                             f'{replicas}: must be greater than or equal to 0',
                             {"name": name, "group": "autoscaling", "kind": "Scale",
                              "causes": [{"reason": "FieldValueInvalid", "field": "spec.replicas",
                                          "message": f"Invalid value: {replicas}: must be greater than or equal to "
                                                     "0"}]})
    return None


def write_scale(group, plural, namespace, name, workload, scale, expected_version):
    if expected_version and expected_version != workload["metadata"]["resourceVersion"]:
        return conflict(group, plural, name)
    refused = check_replicas(name, scale)
    if refused:
        return refused
    updated = copy.deepcopy(workload)
    updated.setdefault("spec", {})["replicas"] = scale.get("spec", {}).get("replicas", 0)
    return 200, scale_of(store_put(group, plural, namespace, updated))


def handle_scale(method, group, plural, namespace, name, content_type, body):
    workload = store.get((group, plural, namespace, name))
    if workload is None:
        return not_found(group, plural, name)
    if method == "GET":
        return 200, scale_of(workload)
    current = scale_of(workload)
    if method == "PUT":
        scale = json.loads(body)
        if scale.get("metadata", {}).get("name", name) != name:
            return status_object(400, "BadRequest", "the name of the object does not match the name on the URL")
        return write_scale(group, plural, namespace, name, workload, scale,
                           scale.get("metadata", {}).get("resourceVersion"))
    if method == "PATCH":
        patched = decode_patch(content_type, body, current)
        if isinstance(patched, tuple):
            return patched
        return write_scale(group, plural, namespace, name, workload, patched,
                           patched["metadata"].get("resourceVersion"))
    return status_object(405, "MethodNotAllowed", f"the server does not allow this method on the requested resource")


def handle_object(method, parsed, content_type, body, query):
    group, version, namespace, plural, name, sub = parsed
    entry = find_resource(group, version, plural)
    if entry is None or (entry[2] and namespace is None and name is not None):
        return status_object(404, "NotFound", "the server could not find the requested resource")
    kind = entry[1]
    if sub == "scale" and plural in SCALABLE:
        return handle_scale(method, group, plural, namespace, name, content_type, body)
    if sub is not None:
        return status_object(404, "NotFound", "the server could not find the requested resource")
    if name is None and method == "GET":
        return list_objects(group, version, plural, kind, namespace, query)
    if name is None and method == "POST":
        obj = json.loads(body)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if not meta.get("name"):
            return status_object(422, "Invalid", f'{kind} "" is invalid: metadata.name: Required value: name or '
                                 'generateName is required')
        if (group, plural, namespace, meta["name"]) in store:
            return status_object(409, "AlreadyExists", f'{qualified(group, plural)} "{meta["name"]}" already exists',
                                 {"name": meta["name"], "group": group, "kind": plural})
        meta.pop("resourceVersion", None)
        if namespace and ("", "namespaces", None, namespace) not in store:
            return not_found("", "namespaces", namespace)
        if "dryRun" in query:
            return 201, obj
        return 201, copy.deepcopy(store_put(group, plural, namespace, obj))
    current = store.get((group, plural, namespace, name))
    if current is None:
        return not_found(group, plural, name)
    if method == "GET":
        return 200, copy.deepcopy(current)
    if method == "DELETE":
        del store[(group, plural, namespace, name)]
        return 200, current
    if method == "PUT":
        obj = json.loads(body)
        expected = obj.get("metadata", {}).get("resourceVersion")
    elif method == "PATCH":
        obj = decode_patch(content_type, body, current)
        if isinstance(obj, tuple):
            return obj
        expected = None
    else:
        return status_object(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
    if expected and expected != current["metadata"]["resourceVersion"]:
        return conflict(group, plural, name)
    obj.setdefault("metadata", {})["name"] = name
    if plural in SCALABLE and "status" in current and method == "PUT":
        obj["status"] = current["status"]
    return 200, copy.deepcopy(store_put(group, plural, namespace, obj))


# ## Discovery and OpenAPI ----------------------------------------------------------------------------------------

def resource_list(group, version):
    resources = []
    for plural, kind, namespaced, short in RESOURCES[(group, version)]:
        singular = kind.lower()
        resources.append({"name": plural, "singularName": singular, "namespaced": namespaced, "kind": kind,
                          "verbs": ALL_VERBS, "shortNames": short})
        if plural in SCALABLE:
            resources.append({"name": plural + "/scale", "singularName": "", "namespaced": True,
                              "group": "autoscaling", "version": "v1", "kind": "Scale",
                              "verbs": ["get", "patch", "update"]})
            resources.append({"name": plural + "/status", "singularName": "", "namespaced": True, "kind": kind,
                              "verbs": ["get", "patch", "update"]})
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version(group, version),
            "resources": resources}


def group_list():
    groups = []
    for group, version in RESOURCES:
        if group:
            gv = {"groupVersion": f"{group}/{version}", "version": version}
            groups.append({"name": group, "versions": [gv], "preferredVersion": gv})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def discovery(path):
    if path == "/version":
        return 200, {"major": "1", "minor": "32", "gitVersion": "v1.32.4-fake", "gitCommit": "fake",
                     "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23",
                     "compiler": "gc", "platform": "linux/amd64"}
    if path == "/api":
        return 200, {"kind": "APIVersions", "versions": ["v1"],
                     "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}
    if path == "/apis":
        return 200, group_list()
    parts = [p for p in path.split("/") if p]
    if parts == ["api", "v1"]:
        return 200, resource_list("", "v1")
    if len(parts) == 3 and parts[0] == "apis" and (parts[1], parts[2]) in RESOURCES:
        return 200, resource_list(parts[1], parts[2])
    return None


# ## Faults and the test's controls ------------------------------------------------------------------------------

def take_fault(method, path):
    with lock:
        for fault in faults:
            if fault["count"] > 0 and fault.get("method", method) == method and fault.get("path", "") in path:
                fault["count"] -= 1
                return dict(fault)
    return None


def apply_patch_to(api_version, kind, namespace, name, patch):
    found = resource_of_kind(api_version, kind)
    if not found:
        return status_object(400, "BadRequest", f"unknown kind {api_version} {kind}")
    group, _, entry = found
    current = store.get((group, entry[0], namespace if entry[2] else None, name))
    if current is None:
        return not_found(group, entry[0], name)
    return 200, store_put(group, entry[0], namespace if entry[2] else None, merge(current, patch))


def control(method, path, query, body):
    if path == "/fake/objects" and method == "POST":
        obj = json.loads(body)
        found = resource_of_kind(obj["apiVersion"], obj["kind"])
        if not found:
            return status_object(400, "BadRequest", "unknown kind")
        group, _, entry = found
        namespace = obj["metadata"].get("namespace", "default") if entry[2] else None
        ensure_namespace(namespace)
        return 201, store_put(group, entry[0], namespace, obj)
    if path == "/fake/objects" and method == "GET":
        arg = {k: v[0] for k, v in query.items()}
        found = resource_of_kind(arg.get("apiVersion", ""), arg.get("kind", ""))
        if not found:
            return status_object(400, "BadRequest", "unknown kind")
        group, _, entry = found
        obj = store.get((group, entry[0], arg.get("namespace") if entry[2] else None, arg.get("name")))
        return (200, obj) if obj else not_found(group, entry[0], arg.get("name"))
    if path == "/fake/patch" and method == "POST":
        request = json.loads(body)
        return apply_patch_to(request["apiVersion"], request["kind"], request.get("namespace"), request["name"],
                              request["patch"])
    if path == "/fake/faults" and method == "POST":
        fault = json.loads(body)
        fault.setdefault("count", 1)
        faults.append(fault)
        return 201, fault
    if path == "/fake/faults" and method == "DELETE":
        faults.clear()
        return 200, {}
    if path == "/fake/requests" and method == "GET":
        return 200, requests_seen
    return status_object(404, "NotFound", "no such control")


def after_fault(fault, parsed):
    """then_patch: another client changes the object this request just read."""
    group, version, namespace, plural, name, _ = parsed
    entry = find_resource(group, version, plural)
    apply_patch_to(group_version(group, version), entry[1], namespace, name, fault["then_patch"])


# ## The server ---------------------------------------------------------------------------------------------------

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        self.request.do_handshake()  # in this request's thread, so a slow client holds up nobody else
        super().setup()

    def user(self):
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return TOKENS.get(auth[7:])
        certificate = self.request.getpeercert()
        for rdn in (certificate or {}).get("subject", ()):
            for field, value in rdn:
                if field == "commonName":
                    return value
        return None

    def send_json(self, code, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def send_text(self, code, text, headers=()):
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        path, query = url.path, urllib.parse.parse_qs(url.query)
        length = int(self.headers.get("Content-Length", 0) or 0)
        body = self.rfile.read(length).decode() if length else ""
        if path.startswith("/fake/"):
            with lock:
                code, answer = control(self.command, path, query, body)
            return self.send_json(code, answer)
        user = self.user()
        record = {"method": self.command, "path": path, "query": url.query,
                  "content_type": self.headers.get("Content-Type"), "user": user}
        code = self.serve(path, query, body, user)
        record["status"] = code
        with lock:
            requests_seen.append(record)

    def serve(self, path, query, body, user):
        if user is None:
            code, answer = status_object(401, "Unauthorized", "Unauthorized")
            self.send_json(code, answer)
            return code
        fault = take_fault(self.command, path)
        if fault and fault.get("delay"):
            time.sleep(fault["delay"])
        if fault and fault.get("status") == 429:
            self.send_text(429, "Too many requests, please try again later.\n",
                           [("Retry-After", str(fault.get("retry_after", 1)))])
            return 429
        if fault and fault.get("status"):
            code, answer = status_object(fault["status"], "InternalError" if fault["status"] == 500 else
                                         "ServiceUnavailable", fault.get("message", "Internal error occurred: fake "
                                         "fault injected by the test"))
            self.send_json(code, answer, [("Retry-After", str(fault["retry_after"]))] if "retry_after" in fault
                           else [])
            return code
        known = discovery(path)
        if known:
            self.send_json(*known)
            return known[0]
        parsed = parse_path(path)
        if parsed is None:
            code, answer = status_object(404, "NotFound", "the server could not find the requested resource")
            self.send_json(code, answer)
            return code
        verb = verb_of(self.command, parsed[4])
        if user in options.viewer and verb not in ("get", "list", "watch"):
            group, _, namespace, plural, name, sub = parsed
            resource = plural + ("/" + sub if sub else "")
            subject = f'{qualified(group, plural)} "{name}"' if name else qualified(group, plural)
            code, answer = status_object(403, "Forbidden", f'{subject} is forbidden: User "{user}" cannot {verb} '
                                         f'resource "{resource}" in API group "{group}" in the namespace '
                                         f'"{namespace}"', {"name": name or "", "group": group, "kind": plural})
            self.send_json(code, answer)
            return code
        if "protobuf" in (self.headers.get("Content-Type") or ""):
            code, answer = status_object(415, "UnsupportedMediaType", "the fake speaks JSON only: the body of the "
                                         "request was in protobuf (kubectl create of a built-in kind sends it)")
            self.send_json(code, answer)
            return code
        try:
            with lock:
                code, answer = handle_object(self.command, parsed, self.headers.get("Content-Type"), body, query)
                if fault and fault.get("then_patch") and code < 300:
                    after_fault(fault, parsed)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            code, answer = status_object(400, "BadRequest", f"the request could not be decoded: {error}")
        if code == 200 and self.command == "GET" and parsed[5] is None and "as=Table" in self.headers.get("Accept", ""):
            answer = as_table(parsed[3], answer)
        self.send_json(code, answer)
        return code

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that gave up during the TLS handshake (a curl timeout) is no news


for name in ("default", "kube-system"):
    ensure_namespace(name)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(options.cert, options.key)
context.load_verify_locations(options.client_ca)
context.verify_mode = ssl.CERT_OPTIONAL
server = Server(("127.0.0.1", 0), Handler)
server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
print(server.server_address[1], flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
sys.stdin.read()
