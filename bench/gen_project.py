#!/usr/bin/env python3
"""Generates a synthetic dbt-style project for benchmarks: N models in layers, each reading one
or two upstream models through ref(), with Jinja loops, a macro call, config() and schema tests.

Usage: bench/gen_project.py OUT_DIR [--models 2000] [--seed-rows 100] [--tested 1.0] [--seed 7]
--seed-rows sets the rows of the one seed (raw_events); --tested the share of models that carry
schema tests (not_null on every tested model's id, unique on every other one).
The output is deterministic for a given seed, so runs are comparable.
"""
import argparse
import os
import random


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--models", type=int, default=2000)
    ap.add_argument("--seed-rows", type=int, default=100)
    ap.add_argument("--tested", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    out = args.out
    os.makedirs(os.path.join(out, "models"), exist_ok=True)
    os.makedirs(os.path.join(out, "seeds"), exist_ok=True)
    os.makedirs(os.path.join(out, "macros"), exist_ok=True)
    with open(os.path.join(out, "dbt_project.yml"), "w") as f:
        f.write(
            "name: bench\nversion: '1.0'\nconfig-version: 2\nprofile: bench\n"
            "vars:\n  metrics: [a, b, c]\n"
            "models:\n  bench:\n    +materialized: view\n"
            # Tables every other layer, so no view reads a deep stack of views.
            + "".join(f"    layer_{n}:\n      +materialized: table\n" for n in range(2, 10, 2))
        )
    with open(os.path.join(out, "profiles.yml"), "w") as f:
        f.write("bench:\n  target: dev\n  outputs:\n    dev:\n      type: sqlite\n      schema: main\n      threads: 4\n")
    with open(os.path.join(out, "seeds", "raw_events.csv"), "w") as f:
        f.write("id,user_id,a,b,c,created_at\n")
        for i in range(1, args.seed_rows + 1):
            f.write(f"{i},{i % 17},{i * 3},{i * 5},{i * 7},2024-01-{(i % 28) + 1:02d}\n")
    with open(os.path.join(out, "macros", "helpers.sql"), "w") as f:
        f.write(
            "{% macro safe_ratio(num, den) -%}\n"
            "    case when {{ den }} = 0 then null else 1.0 * {{ num }} / {{ den }} end\n"
            "{%- endmacro %}\n"
        )
    layers = 10
    per_layer = args.models // layers
    names = []
    schema_entries = []
    for layer in range(layers):
        layer_dir = os.path.join(out, "models", f"layer_{layer}")
        os.makedirs(layer_dir, exist_ok=True)
        current = []
        for i in range(per_layer):
            name = f"m_{layer}_{i:04d}"
            if layer == 0:
                parents = ["ref('raw_events')"]
            else:
                prev = names[-1]
                picks = sorted(set(rnd.sample(prev, min(2, len(prev)))))
                parents = [f"ref('{p}')" for p in picks]
            body = [
                "{{ config(tags=['bench']) }}",
                "{% set metrics = var('metrics') %}",
                "with base as (",
                f"    select * from {{{{ {parents[0]} }}}}",
                ")",
            ]
            if len(parents) > 1:
                body += [", other as (", f"    select id as other_id from {{{{ {parents[1]} }}}}", ")"]
            body += [
                "select",
                "    id,",
                "    user_id,",
                "    {% for m in metrics %}",
                "    {{ m }},",
                "    {% endfor %}",
                "    {{ safe_ratio('a', 'b') }} as ratio,",
                "    created_at",
                "from base",
            ]
            if len(parents) > 1:
                body += ["left join other on base.id = other.other_id"]
            with open(os.path.join(layer_dir, f"{name}.sql"), "w") as f:
                f.write("\n".join(body) + "\n")
            current.append(name)
            # Every 1/tested-th model carries tests, spread evenly over the layers.
            index = len(schema_entries)
            tested = int((index + 1) * args.tested) > int(index * args.tested)
            tested_before = int(index * args.tested)
            tests = "[not_null, unique]" if tested_before % 2 else "[not_null]"
            schema_entries.append(
                f"  - name: {name}\n    description: Model {name}.\n    columns:\n"
                + (f"      - name: id\n        data_tests: {tests}\n" if tested else "      - name: id\n")
            )
        names.append(current)
    with open(os.path.join(out, "models", "schema.yml"), "w") as f:
        f.write("version: 2\nmodels:\n" + "".join(schema_entries))


if __name__ == "__main__":
    main()
