#!/usr/bin/env python3
"""Checks that the artifacts in a target directory are ones dbt's own tools read.

Usage:
    validate_artifacts.py TARGET_DIR [--schemas DIR] [--require NAME ...]

For each of manifest.json, run_results.json, sources.json and catalog.json in TARGET_DIR:

1. JSON Schema: the file against dbt's published schema (tests/fixtures/dbt_schemas/ by
   default), with the validator the schema declares (Draft 2020-12). Errors inside unions
   (a node is one of nine classes, a nullable field is X or null) are reported in the branch
   the instance belongs to, so each names its exact path and what is wrong.
2. dbt-core's loaders: the artifact classes dbt itself uses to read them
   (WritableManifest.read_and_check_versions then Manifest.from_writable_manifest, as
   `--state` does; RunResultsArtifact, FreshnessExecutionResultArtifact, CatalogArtifact).
3. dbt-artifacts-parser, the pydantic models many tools read artifacts with.

--require NAME fails when that artifact is missing. Exits 1 on any failure.
Needs: dbt-core 1.11, dbt-artifacts-parser, jsonschema.
"""
import argparse
import json
import os
import sys

import jsonschema

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SCHEMAS = os.path.join(REPO, "tests", "fixtures", "dbt_schemas")

# file name -> (schema file, dbt_schema_version the file must declare)
ARTIFACTS = {
    "manifest.json": ("manifest_v12.json", "https://schemas.getdbt.com/dbt/manifest/v12.json"),
    "run_results.json": ("run-results_v6.json", "https://schemas.getdbt.com/dbt/run-results/v6.json"),
    "sources.json": ("sources_v3.json", "https://schemas.getdbt.com/dbt/sources/v3.json"),
    "catalog.json": ("catalog_v1.json", "https://schemas.getdbt.com/dbt/catalog/v1.json"),
}


def json_path(parts):
    out = "$"
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else f"[{json.dumps(p)}]"
    return out


def branch_accepts(branch, instance):
    """False when a const/enum property of the branch (resource_type, status) rules it out."""
    if not isinstance(instance, dict):
        return True
    for key, sub in branch.get("properties", {}).items():
        if key not in instance or not isinstance(sub, dict):
            continue
        allowed = [sub["const"]] if "const" in sub else sub.get("enum")
        if allowed is not None and instance[key] not in allowed:
            return False
    return True


def leaves(error):
    """The errors that say what is wrong: inside a union, those of the branch that fits."""
    if error.validator not in ("anyOf", "oneOf") or not error.context:
        yield error
        return
    branches = error.schema[error.validator]
    by_branch = {}
    for sub in error.context:
        by_branch.setdefault(sub.relative_schema_path[0], []).append(sub)
    candidates = [i for i in range(len(branches)) if branches[i].get("type") != "null"
                  or error.instance is None]
    fitting = [i for i in candidates if branch_accepts(branches[i], error.instance)]
    candidates = fitting or candidates
    if not candidates:
        yield error
        return
    best = min(candidates, key=lambda i: len(by_branch.get(i, [])))
    subs = by_branch.get(best)
    if not subs:
        yield error
        return
    for sub in subs:
        yield from leaves(sub)


def schema_errors(data, schema):
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    out = []
    for error in cls(schema).iter_errors(data):
        for leaf in leaves(error):
            out.append(f"{json_path(leaf.absolute_path)}: {leaf.message[:300]}")
    return out


def innermost(exc):
    """The last exception of a chain: mashumaro wraps the real reason (a missing field) deep."""
    seen = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        nxt = exc.__cause__ or exc.__context__
        if nxt is None:
            break
        exc = nxt
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:400]}"


def dbt_core_loads(name, path):
    """Loads the file with dbt-core's own classes; returns a list of failures."""
    from dbt.artifacts.schemas.catalog import CatalogArtifact
    from dbt.artifacts.schemas.freshness import FreshnessExecutionResultArtifact
    from dbt.artifacts.schemas.manifest import WritableManifest
    from dbt.artifacts.schemas.run import RunResultsArtifact

    cls = {
        "manifest.json": WritableManifest,
        "run_results.json": RunResultsArtifact,
        "sources.json": FreshnessExecutionResultArtifact,
        "catalog.json": CatalogArtifact,
    }[name]
    try:
        artifact = cls.read_and_check_versions(path)
    except Exception as exc:  # noqa: BLE001 - any failure to load is the finding
        return [f"{cls.__name__}.read_and_check_versions: {innermost(exc)}"]
    if name == "manifest.json":
        from dbt.contracts.graph.manifest import Manifest

        try:
            Manifest.from_writable_manifest(artifact)
        except Exception as exc:  # noqa: BLE001
            return [f"Manifest.from_writable_manifest: {innermost(exc)}"]
    return []


def artifacts_parser_loads(name, data):
    from dbt_artifacts_parser import parser

    parse = {
        "manifest.json": parser.parse_manifest,
        "run_results.json": parser.parse_run_results,
        "sources.json": parser.parse_sources,
        "catalog.json": parser.parse_catalog,
    }[name]
    try:
        parse(data)
    except Exception as exc:  # noqa: BLE001
        details = []
        if hasattr(exc, "errors"):
            for e in exc.errors()[:10]:
                loc = ".".join(str(x) for x in e.get("loc", ()))
                details.append(f"{loc}: {e.get('msg')}")
        return [f"dbt_artifacts_parser.{parse.__name__}: " + ("; ".join(details) or innermost(exc))]
    return []


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("target")
    ap.add_argument("--schemas", default=DEFAULT_SCHEMAS)
    ap.add_argument("--require", action="append", default=[], choices=sorted(ARTIFACTS))
    args = ap.parse_args()

    failures = 0
    for name, (schema_file, version) in ARTIFACTS.items():
        path = os.path.join(args.target, name)
        if not os.path.exists(path):
            if name in args.require:
                print(f"FAIL {path}: missing")
                failures += 1
            continue
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        with open(os.path.join(args.schemas, schema_file), encoding="utf-8") as f:
            schema = json.load(f)
        problems = []
        declared = (data.get("metadata") or {}).get("dbt_schema_version")
        if declared != version:
            problems.append(f"metadata.dbt_schema_version is {declared!r}, not {version!r}")
        errors = schema_errors(data, schema)
        problems += [f"schema: {e}" for e in errors]
        problems += [f"dbt-core: {e}" for e in dbt_core_loads(name, path)]
        problems += [f"parser: {e}" for e in artifacts_parser_loads(name, data)]
        if problems:
            failures += 1
            print(f"FAIL {path}: {len(errors)} schema error(s)")
            for p in problems[:50]:
                print(f"  {p}")
            if len(problems) > 50:
                print(f"  ... {len(problems) - 50} more")
        else:
            print(f"ok   {path}: 0 schema errors; dbt-core and dbt-artifacts-parser load it")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
