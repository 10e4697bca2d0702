{%- import "wire.sql" as wire -%}
-- The keys that the queue entries in $2 for destination $1 hold and that have no row (inside the filter) any more.
with k as (
    select {% for c in key %}{% if !loop.first %}, {% endif %}k.{{ c }}{% endfor %}
      from repsync.sync_err_rec e, {% if json.any_of(key) %}lateral {% endif %}{% call wire::dec(table, "e.old_rows", key, json, "k") %}{% endcall %}
     where e.dest = $1 and e.id = any ($2::bigint[])
)
select json_agg(g.*)::text
  from (select {% call wire::enc("d.", key, json) %}{% endcall %}
          from (select {% for c in key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %} from k
                except
                select {% for c in key %}{% if !loop.first %}, {% endif %}x.{{ c }}{% endfor %}
                  from (select t.*
                          from {% if !partitioned %}only {% endif %}{{ table }} as t
                         where ({% for c in key %}{% if !loop.first %}, {% endif %}t.{{ c }}{% endfor %}) in (select * from k)) as x
{%- if let Some(f) = filter %}
                 where {{ f }}
{%- endif %}
               ) as d) as g
