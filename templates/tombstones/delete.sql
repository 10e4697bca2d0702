{%- import "wire.sql" as wire -%}
{%- import "tombstones/settled.sql" as s -%}
-- Deletes the tombstones in $1 (JSON), which every node has settled, where they are
-- still what was read: a key changed meanwhile keeps its new version.
with gone as (
    delete from {{ versions }} as d
     using {% call wire::dec(versions, "$1::text::json", all, q.json, "c") %}{% endcall %}
     where {% for k in q.key %}d.{{ k }} = c.{{ k }} and {% endfor %}d.repsync_deleted
       and d.repsync_at = c.repsync_at and d.repsync_origin = c.repsync_origin
       and {% call s::settled("c", q, versions, set_name) %}{% endcall %}
    returning 1
)
select pg_catalog.count(*) from gone
