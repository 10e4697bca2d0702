-- Removes repsync from node {{ node }}.
drop schema repsync cascade;
{%- for server in servers %}
drop server if exists {{ server }} cascade;
{%- endfor %}
{%- if drop_dblink %}
drop extension if exists dblink;
{%- endif %}
{%- if restore_user_mappings %}
grant select on pg_catalog.pg_user_mappings to public;
{%- endif %}
