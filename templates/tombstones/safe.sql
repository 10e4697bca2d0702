{%- import "wire.sql" as wire -%}
{%- import "tombstones/settled.sql" as s -%}
-- Of the tombstones in $1 (JSON), those this node has settled too: the same tombstone
-- or no version, no row, nothing queued with the key.
select coalesce(pg_catalog.json_agg(r.*), '[]')::text
  from (select {% call wire::enc("c.", q.key, q.json) %}{% endcall %}, c.repsync_at, c.repsync_origin
          from {% call wire::dec(versions, "$1::text::json", all, q.json, "c") %}{% endcall %}
         where {% call s::settled("c", q, versions, set_name) %}{% endcall %}) as r
