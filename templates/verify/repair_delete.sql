{%- import "verify/hash.sql" as h -%}
-- Rows of the buckets in $1 whose key is not among the rows in $2 (JSON).
delete from only {{ q.table }} as t
 where {% call h::bucket(q, "t.") %}{% endcall %} = any ($1::int[])
{%- if let Some(f) = q.filter %}
   and {{ f }}
{%- endif %}
   and not exists (select from json_populate_recordset(null::{{ q.table }}, $2::text::json) as s
                    where {% for c in q.key %}{% if !loop.first %} and {% endif %}s.{{ c }} = t.{{ c }}{% endfor %})
