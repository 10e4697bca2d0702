-- Node {{ node }}: run once as a superuser, in the database the node file names.{# No role or table name in SQL comments: a newline in a quoted name would end the comment. #}
-- dblink is not a trusted extension, so only a superuser can create it.
create extension if not exists dblink;
-- Foreign servers to the peers, and the schema repsync.
grant usage on foreign data wrapper dblink_fdw to {{ role }};
grant create on database {{ database }} to {{ role }};
{%- if let Some(peer) = peer_role %}
-- The peers connect as another role: it runs the apply procedures of this role.
grant {{ role }} to {{ peer }};
{%- endif %}
{%- if tables.is_empty() %}
-- For each table to replicate (add --table to print these lines):
--   grant usage on schema SCHEMA to ROLE;
--   grant select, insert, update, delete, truncate, trigger on TABLE to ROLE;
{%- else %}
-- The tables: capture triggers, applying the peers' changes, verify and repair.
{%- for schema in schemas %}
grant usage on schema {{ schema }} to {{ role }};
{%- endfor %}
{%- for table in tables %}
grant select, insert, update, delete, truncate, trigger on {{ table }} to {{ role }};
{%- endfor %}
{%- endif %}
-- A partitioned table's partitions get capture triggers of their own, and grants on
-- the partitioned table do not pass down to them: on a sending node also
--   grant trigger on PARTITION to ROLE;
-- for each partition (and again for a partition attached later).
-- remove-table and uninstall drop the triggers, which PostgreSQL leaves to the table's
-- owner: run them as the owner, or make the role a member of the owner's role.
-- add-table --fix-sequences alters sequences, which also takes their owner.
