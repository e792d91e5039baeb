"""HTTP API: Postgres row-level security as a second wall between organizations.

The API's request sessions `SET LOCAL ROLE tokentra_app` (a NOLOGIN role without BYPASSRLS that does not own
the tables) and `set_config('tokentra.org_id', <key's org>, true)`; the policies below then hide every row of
another org, even from a query that forgot its org filter. The table owner (migrations, the CLI, bulk COPY
ingest, tests) is not subject to RLS because FORCE is not set.

`tokentra_apply_org_rls()` enables RLS and adds the policy on every table of the schema with an
`organization_id` column (partitioned parents included, partitions excluded: queries go through the parent).
core/schema.upgrade calls it after every upgrade, so tables added by later migrations get the wall too.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLE = "tokentra_app"

CREATE_ROLE = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}') THEN
        CREATE ROLE {ROLE} NOLOGIN NOINHERIT;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- another database of the same cluster created it concurrently
END $$;
"""

# The login that runs migrations (and the API) must be allowed to SET ROLE to it; superusers always may.
GRANT_MEMBERSHIP = f"""
DO $$
BEGIN
    IF NOT pg_has_role(current_user, '{ROLE}', 'MEMBER') THEN
        EXECUTE format('GRANT {ROLE} TO %I', current_user);
    END IF;
END $$;
"""

CURRENT_ORG = """
CREATE OR REPLACE FUNCTION tokentra_current_org() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT NULLIF(current_setting('tokentra.org_id', true), '')::uuid $$;
"""

APPLY_RLS = """
CREATE OR REPLACE FUNCTION tokentra_apply_org_rls() RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    t record;
    n integer := 0;
BEGIN
    FOR t IN
        SELECT c.oid, c.relname, NOT a.attnotnull AS nullable
        FROM pg_class c
        JOIN pg_namespace ns ON ns.oid = c.relnamespace AND ns.nspname = current_schema()
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'organization_id' AND NOT a.attisdropped
        WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t.relname);
        IF NOT EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = t.oid AND polname = 'org_isolation') THEN
            IF t.nullable THEN  -- shared rows (e.g. the global price catalogue): readable, never writable
                EXECUTE format(
                    'CREATE POLICY org_isolation ON %I USING (organization_id IS NULL OR organization_id = '
                    'tokentra_current_org()) WITH CHECK (organization_id = tokentra_current_org())', t.relname);
            ELSE
                EXECUTE format(
                    'CREATE POLICY org_isolation ON %I USING (organization_id = tokentra_current_org()) '
                    'WITH CHECK (organization_id = tokentra_current_org())', t.relname);
            END IF;
        END IF;
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
"""

ORGANIZATIONS_RLS = """
ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS org_isolation ON organizations;
CREATE POLICY org_isolation ON organizations USING (id = tokentra_current_org()) WITH CHECK (false);
"""

GRANTS = f"""
GRANT USAGE ON SCHEMA {{schema}} TO {ROLE};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {{schema}} TO {ROLE};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {{schema}} TO {ROLE};
ALTER DEFAULT PRIVILEGES IN SCHEMA {{schema}} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {ROLE};
ALTER DEFAULT PRIVILEGES IN SCHEMA {{schema}} GRANT USAGE, SELECT ON SEQUENCES TO {ROLE};
REVOKE ALL ON alembic_version FROM {ROLE};
"""


def upgrade() -> None:
    schema = op.get_bind().exec_driver_sql("SELECT quote_ident(current_schema())").scalar_one()
    op.execute(CREATE_ROLE)
    op.execute(GRANT_MEMBERSHIP)
    op.execute(CURRENT_ORG)
    op.execute(APPLY_RLS)
    op.execute(GRANTS.format(schema=schema))
    op.execute(ORGANIZATIONS_RLS)
    op.execute("SELECT tokentra_apply_org_rls()")


DROP_POLICIES = """
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN
        SELECT c.relname FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
        JOIN pg_namespace ns ON ns.oid = c.relnamespace AND ns.nspname = current_schema()
        WHERE p.polname = 'org_isolation'
    LOOP
        EXECUTE format('DROP POLICY org_isolation ON %I', t.relname);
        EXECUTE format('ALTER TABLE %I DISABLE ROW LEVEL SECURITY', t.relname);
    END LOOP;
END $$;
"""


def downgrade() -> None:
    schema = op.get_bind().exec_driver_sql("SELECT quote_ident(current_schema())").scalar_one()
    op.execute(DROP_POLICIES)
    op.execute("DROP FUNCTION IF EXISTS tokentra_apply_org_rls()")
    op.execute("DROP FUNCTION IF EXISTS tokentra_current_org()")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} REVOKE ALL ON TABLES FROM {ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} REVOKE ALL ON SEQUENCES FROM {ROLE}")
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {ROLE}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA {schema} FROM {ROLE}")
    # The role is cluster-wide (other databases may use it): it stays.
