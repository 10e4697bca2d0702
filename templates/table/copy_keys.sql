{%- import "wire.sql" as wire -%}
-- add-table --copy-from: every key of the table (inside the filter), queued for each{# No name in SQL comments: a newline in a quoted name would end the comment. #}
-- receiving node in entries of {{ chunk_rows }} keys. The rows are read when an
-- entry is shipped, so a row changed meanwhile arrives as it is then, and changes
-- made while the copy runs are neither lost nor overwritten by an older copy.
-- Every key: row-level security must not leave any out (it fails instead).
set local row_security = off;
insert into repsync.sync_err_rec (dest, set_name, op, old_rows, origin_xid)
select d.dest, {{ set_name }}, 'K', c.keys, pg_current_xact_id()
  from (select n.chunk, json_agg(n.k) as keys
          from (select (row_number() over (order by {% for c in key %}{% if !loop.first %}, {% endif %}t.{{ c }}{% endfor %}) - 1) / {{ chunk_rows }} as chunk,
                       json_build_object({% for (c, name) in key_names %}{% if !loop.first %}, {% endif %}{{ name }}, t.{{ c }}{% if json.as_text(c) %}::text{% endif %}{% endfor %}) as k
                  from {% if !partitioned %}only {% endif %}{{ table }} as t
{%- if let Some(f) = filter %}
                 where {{ f }}
{%- endif %}
               ) as n
         group by n.chunk) as c,
       unnest(array[{% for d in dests %}{% if !loop.first %}, {% endif %}{{ d }}{% endfor %}]::text[]) with ordinality as d(dest, position)
 order by d.position, c.chunk;
