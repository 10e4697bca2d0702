{%- import "verify/hash.sql" as h -%}
{%- import "wire.sql" as wire -%}
-- The version records of the keys in the buckets in $1 become those in $2 (JSON), which
-- the node repaired from holds: the others of those buckets go (the two parts of the
-- statement touch different keys, so the order they run in does not matter).
with source as (
    select s.*
      from {% call wire::dec(versions, "$2::text::json", all, q.json, "s") %}{% endcall %}
), removed as (
    delete from {{ versions }} as v
     where {% call h::bucket(q, "v.") %}{% endcall %} = any ($1::int[])
       and not exists (select from source as s
                        where {% for c in q.key %}{% if !loop.first %} and {% endif %}s.{{ c }} = v.{{ c }}{% endfor %})
)
insert into {{ versions }} as v ({% for c in all %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %})
select {% for c in all %}{% if !loop.first %}, {% endif %}s.{{ c }}{% endfor %}
  from source as s
    on conflict ({% for c in q.key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %}) do update
   set repsync_at = excluded.repsync_at, repsync_origin = excluded.repsync_origin,
       repsync_base_at = excluded.repsync_base_at, repsync_base_origin = excluded.repsync_base_origin,
       repsync_deleted = excluded.repsync_deleted, repsync_rank = excluded.repsync_rank
