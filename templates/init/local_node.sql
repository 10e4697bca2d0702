-- This database is node {{ node }}.
insert into repsync.local_node (name, created_dblink, init_fingerprint)
values ({{ node_literal }}, {{ created_dblink }}, {{ fingerprint }})
    on conflict (singleton) do update
   set name = excluded.name, init_fingerprint = excluded.init_fingerprint;
{%- if revoke_user_mappings %}
revoke all on pg_catalog.pg_user_mappings from public;
{%- endif %}
