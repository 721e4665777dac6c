#!/usr/bin/env python3
"""Writes a diesel-format folder of N real-world-shaped migrations (default 300) for
bench/migrate.sh: the mix a product accumulates over a few years — tables with foreign keys,
added and dropped columns, indexes (some CONCURRENTLY, in `run_in_transaction = false`
migrations), enums and added labels, check constraints, functions with triggers, views,
backfills, renames and comments — each with a working down.sql.

    python3 bench/gen-migrations.py OUT_DIR [N]

Deterministic: the same N gives the same folder, so runs are comparable.
"""
import os
import sys


def main() -> None:
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    os.makedirs(out, exist_ok=True)
    tables = []  # tables created so far, each with its added columns
    version = 0

    def write(name, up, down, tx=True):
        nonlocal version
        version += 1
        d = os.path.join(out, f"2024{version:010d}_{name}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "up.sql"), "w") as f:
            f.write(up.strip() + "\n")
        with open(os.path.join(d, "down.sql"), "w") as f:
            f.write(down.strip() + "\n")
        if not tx:
            with open(os.path.join(d, "metadata.toml"), "w") as f:
                f.write("run_in_transaction = false\n")

    write("diesel_initial_setup",
          """CREATE OR REPLACE FUNCTION diesel_manage_updated_at(_tbl regclass) RETURNS VOID AS $$
BEGIN
    EXECUTE format('CREATE TRIGGER set_updated_at BEFORE UPDATE ON %s
                    FOR EACH ROW EXECUTE PROCEDURE diesel_set_updated_at()', _tbl);
END;
$$ LANGUAGE plpgsql;
CREATE OR REPLACE FUNCTION diesel_set_updated_at() RETURNS trigger AS $$
BEGIN
    IF (NEW IS DISTINCT FROM OLD AND NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at) THEN
        NEW.updated_at := current_timestamp;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;""",
          """DROP FUNCTION IF EXISTS diesel_manage_updated_at(_tbl regclass);
DROP FUNCTION IF EXISTS diesel_set_updated_at();""")

    i = 0
    while version < n:
        kind = i % 10
        i += 1
        if kind == 0 or not tables:
            t = f"entity_{len(tables):03d}"
            parent = tables[-1]["name"] if tables else None
            fk = f",\n    {parent}_id BIGINT REFERENCES {parent}(id) ON DELETE CASCADE" if parent else ""
            up = f"""CREATE TABLE {t} (
    id BIGSERIAL PRIMARY KEY,
    tenant_id UUID NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active',
    payload JSONB NOT NULL DEFAULT '{{}}'::jsonb{fk},
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);
SELECT diesel_manage_updated_at('{t}');
CREATE INDEX {t}_tenant_idx ON {t} (tenant_id);
INSERT INTO {t} (tenant_id, name) SELECT '00000000-0000-0000-0000-000000000001', 'row-' || g FROM generate_series(1, 50) g;"""
            write(f"create_{t}", up, f"DROP TABLE {t};")
            tables.append({"name": t, "cols": 0})
        elif kind == 1:
            t = tables[-1]
            c = f"attr_{t['cols']}"
            t["cols"] += 1
            write(f"add_{c}_to_{t['name']}",
                  f"ALTER TABLE {t['name']} ADD COLUMN {c} INTEGER;\nCOMMENT ON COLUMN {t['name']}.{c} IS 'added in a later release';",
                  f"ALTER TABLE {t['name']} DROP COLUMN {c};")
        elif kind == 2:
            t = tables[-1]["name"]
            write(f"index_{t}_created_at_concurrently",
                  f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {t}_created_idx ON {t} (created_at);",
                  f"DROP INDEX CONCURRENTLY IF EXISTS {t}_created_idx;", tx=False)
        elif kind == 3:
            t = tables[-1]["name"]
            write(f"create_{t}_kind_enum",
                  f"CREATE TYPE {t}_kind AS ENUM ('small', 'medium');\nALTER TABLE {t} ADD COLUMN kind {t}_kind NOT NULL DEFAULT 'small';",
                  f"ALTER TABLE {t} DROP COLUMN kind;\nDROP TYPE {t}_kind;")
        elif kind == 4:
            t = tables[-1]["name"]
            write(f"add_large_to_{t}_kind",
                  f"ALTER TYPE {t}_kind ADD VALUE IF NOT EXISTS 'large';",
                  f"-- enum labels cannot be removed; the down keeps the label\nSELECT 1;", tx=False)
        elif kind == 5:
            t = tables[-1]["name"]
            write(f"check_{t}_status",
                  f"ALTER TABLE {t} ADD CONSTRAINT {t}_status_check CHECK (status IN ('active', 'archived')) NOT VALID;\nALTER TABLE {t} VALIDATE CONSTRAINT {t}_status_check;",
                  f"ALTER TABLE {t} DROP CONSTRAINT {t}_status_check;")
        elif kind == 6:
            t = tables[-1]["name"]
            write(f"audit_trigger_{t}",
                  f"""CREATE TABLE {t}_audit (id BIGSERIAL PRIMARY KEY, row_id BIGINT NOT NULL, op TEXT NOT NULL, at TIMESTAMPTZ NOT NULL DEFAULT now());
CREATE FUNCTION {t}_audit_fn() RETURNS trigger AS $$
BEGIN
    INSERT INTO {t}_audit (row_id, op) VALUES (COALESCE(NEW.id, OLD.id), TG_OP);
    RETURN COALESCE(NEW, OLD);
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER {t}_audit_trg AFTER INSERT OR UPDATE OR DELETE ON {t} FOR EACH ROW EXECUTE FUNCTION {t}_audit_fn();""",
                  f"DROP TRIGGER {t}_audit_trg ON {t};\nDROP FUNCTION {t}_audit_fn();\nDROP TABLE {t}_audit;")
        elif kind == 7:
            t = tables[-1]["name"]
            write(f"backfill_{t}_payload",
                  f"UPDATE {t} SET payload = jsonb_build_object('name', name, 'v', 2) WHERE payload = '{{}}'::jsonb;",
                  f"UPDATE {t} SET payload = '{{}}'::jsonb WHERE payload ? 'v';")
        elif kind == 8:
            t = tables[-1]["name"]
            write(f"view_{t}_active",
                  f"CREATE VIEW {t}_active AS SELECT id, tenant_id, name FROM {t} WHERE status = 'active';",
                  f"DROP VIEW {t}_active;")
        else:
            t = tables[-1]["name"]
            write(f"rename_{t}_name",
                  f"ALTER TABLE {t} RENAME COLUMN name TO display_name;\nALTER TABLE {t} ADD COLUMN notes TEXT;",
                  f"ALTER TABLE {t} DROP COLUMN notes;\nALTER TABLE {t} RENAME COLUMN display_name TO name;")


if __name__ == "__main__":
    main()
