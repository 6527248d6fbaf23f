#!/usr/bin/env python3
"""Checks exported records against the real standards, offline.

    check.py ocsf FILE   each line of FILE is one OCSF event; it is validated against the JSON
                         Schema that ocsf-json-schema builds from the official OCSF export of the
                         version the event declares (metadata.version), for its class and the
                         profiles it declares (metadata.profiles). No additional property passes.
    check.py ecs FILE    each line of FILE is one ECS document; every field outside the custom
                         `authsignal` object must be defined in ECS 8.17.0's ecs_flat.yml (beside
                         this file) with a matching type, arrays only where ECS allows them, values
                         among the allowed ones, and event.type among its categories' expected types.

Prints one line per problem ("LINE: problem") and exits 1 if there is any, else prints
"N events valid" and exits 0.
"""

import datetime
import gzip
import ipaddress
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def ocsf_problems(events):
    from jsonschema import Draft202012Validator
    from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

    schemas = {}
    for number, event in events:
        metadata = event.get("metadata", {})
        version = metadata.get("version")
        profiles = sorted(metadata.get("profiles", []))
        try:
            if version not in schemas:
                schemas[version] = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=version))
            ocsf = schemas[version]
            name = ocsf.lookup_class_name_from_uid(event.get("class_uid"))
            schema = ocsf.get_class_schema(class_name=name, profiles=profiles)
        except Exception as error:  # an unknown version or class is itself a failure
            yield number, f"no OCSF schema for version {version!r}, class {event.get('class_uid')!r}: {error}"
            continue
        validator = Draft202012Validator(schema)
        for error in sorted(validator.iter_errors(event), key=lambda e: list(e.absolute_path)):
            path = ".".join(str(part) for part in error.absolute_path) or "(event)"
            yield number, f"{path}: {error.message}"


def load_ecs():
    import yaml

    with gzip.open(os.path.join(HERE, "ecs-8.17.0", "ecs_flat.yml.gz"), "rt", encoding="utf-8") as file:
        return yaml.safe_load(file)


def flatten(value, prefix=""):
    """(dotted name, value) for each leaf; a list is a leaf (ECS arrays are of scalars here)."""
    if isinstance(value, dict):
        for key, member in value.items():
            yield from flatten(member, f"{prefix}.{key}" if prefix else key)
    else:
        yield prefix, value


def type_problem(field_type, value):
    if field_type in ("keyword", "constant_keyword", "wildcard", "text", "match_only_text"):
        return None if isinstance(value, str) else "is not a string"
    if field_type in ("long", "integer", "short", "byte", "unsigned_long"):
        return None if isinstance(value, int) and not isinstance(value, bool) else "is not an integer"
    if field_type in ("float", "double", "scaled_float", "half_float"):
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) else "is not a number"
    if field_type == "boolean":
        return None if isinstance(value, bool) else "is not a boolean"
    if field_type == "ip":
        try:
            ipaddress.ip_address(value)
            return None
        except (ValueError, TypeError):
            return "is not an IP address"
    if field_type == "date":
        try:
            datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            return None
        except ValueError:
            return "is not an ISO 8601 date"
    return f"has ECS type {field_type}, which this checker does not know"


def ecs_problems(documents):
    fields = load_ecs()
    for number, document in documents:
        for required in ("@timestamp", "ecs.version"):
            if required not in dict(flatten(document)):
                yield number, f"{required}: missing (ECS requires it)"
        for name, value in flatten(document):
            if name == "authsignal" or name.startswith("authsignal."):
                if name.split(".")[0] in fields:
                    yield number, f"{name}: the custom object collides with an ECS field set"
                continue
            definition = fields.get(name)
            if definition is None:
                yield number, f"{name}: not an ECS 8.17.0 field"
                continue
            values = value if isinstance(value, list) else [value]
            if isinstance(value, list) and "array" not in definition.get("normalize", []):
                yield number, f"{name}: ECS does not take an array here"
            for element in values:
                problem = type_problem(definition["type"], element)
                if problem:
                    yield number, f"{name}: {element!r} {problem}"
            allowed = definition.get("allowed_values")
            if allowed:
                names = {entry["name"] for entry in allowed}
                for element in values:
                    if element not in names:
                        yield number, f"{name}: {element!r} is not one of ECS's allowed values"
        event = document.get("event", {})
        categories = {entry["name"]: entry for entry in fields["event.category"]["allowed_values"]}
        for category in event.get("category", []):
            expected = categories.get(category, {}).get("expected_event_types", [])
            for kind in event.get("type", []):
                if kind not in expected:
                    yield number, f"event.type: {kind!r} is not expected with event.category {category!r}"


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("ocsf", "ecs"):
        sys.exit(__doc__)
    standard, path = sys.argv[1], sys.argv[2]
    items = []
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            if line.strip():
                items.append((number, json.loads(line)))
    if not items:
        print(f"{path}: no events to check")
        sys.exit(1)
    check = ocsf_problems if standard == "ocsf" else ecs_problems
    problems = list(check(items))
    for number, problem in problems:
        print(f"{number}: {problem}")
    if problems:
        sys.exit(1)
    print(f"{len(items)} events valid")


if __name__ == "__main__":
    main()
