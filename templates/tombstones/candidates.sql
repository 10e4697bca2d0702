{%- import "wire.sql" as wire -%}
-- Up to $3 tombstones (version records of deleted keys) older than $2 seconds, in key
-- order after the key in $1 (JSON, null for the first), as JSON.
select pg_catalog.json_agg(r.*)::text
  from (select {% call wire::enc("v.", q.key, q.json) %}{% endcall %}, v.repsync_at, v.repsync_origin
          from {{ versions }} as v
         where v.repsync_deleted
           and v.repsync_at < pg_catalog.now() - pg_catalog.make_interval(secs => $2::float8)
           and ($1::text is null
                or ({% for c in q.key %}{% if !loop.first %}, {% endif %}v.{{ c }}{% endfor %}) >
                   (select {% for c in q.key %}{% if !loop.first %}, {% endif %}a.{{ c }}{% endfor %}
                      from {% call wire::dec(versions, "$1::text::json", q.key, q.json, "a") %}{% endcall %}))
         order by {% for c in q.key %}{% if !loop.first %}, {% endif %}v.{{ c }}{% endfor %}
         limit $3) as r
