"""Validates Kubernetes objects against the OpenAPI schemas shipped in the kubernetes-validate
package (strict: unknown fields are errors), offline.

stdin:  {"versions": ["1.33", ...], "objects": [ {...}, ... ]}
stdout: {"validator": "<package version>", "results": [{"index", "version", "status", "schema_version", "message"}]}
status: "valid", "invalid" (message: path and reason) or "no-schema" (a kind the package does
not know, e.g. a custom resource: the caller decides what to do with it).
"""
import functools
import json
import sys

import kubernetes_validate
import kubernetes_validate.utils as utils
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError
from kubernetes_validate.version import __version__

# validate() re-reads the schema files (the definitions file is large) on every call; read each once.
utils.schema_contents = functools.lru_cache(maxsize=None)(utils.schema_contents)


def main() -> int:
    request = json.load(sys.stdin)
    results = []
    for index, obj in enumerate(request["objects"]):
        for version in request["versions"]:
            result = {"index": index, "version": version}
            try:
                result["schema_version"] = kubernetes_validate.validate(obj, version, strict=True)
                result["status"] = "valid"
            except ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                result["status"] = "invalid"
                result["message"] = f"{path or '(root)'}: {e.message}"
            except SchemaNotFoundError as e:
                result["status"] = "no-schema"
                result["message"] = e.message
            results.append(result)
    json.dump({"validator": __version__, "results": results}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
