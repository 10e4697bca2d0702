{%- import "verify/hash.sql" as h -%}
{%- import "wire.sql" as wire -%}
-- The version records (tombstones too) of the keys in the buckets in $1, as JSON: a
-- repair copies them with the rows, so that every node judges later changes of
-- those keys against the same version.
select coalesce(json_agg(r.*), '[]')::text
  from (select {% call wire::enc("v.", q.key, q.json) %}{% endcall %}, v.repsync_at, v.repsync_origin, v.repsync_base_at,
               v.repsync_base_origin, v.repsync_deleted, v.repsync_rank
          from {{ versions }} as v
         where {% call h::bucket(q, "v.") %}{% endcall %} = any ($1::int[])) as r
