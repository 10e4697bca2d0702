{%- import "verify/hash.sql" as h -%}
{%- import "wire.sql" as wire -%}
-- Rows of the buckets in $1 whose key is not among the rows in $2 (JSON).
delete from {% if !q.partitioned %}only {% endif %}{{ q.table }} as t
 where {% call h::bucket(q, "t.") %}{% endcall %} = any ($1::int[])
{%- if let Some(f) = q.filter %}
   and {{ f }}
{%- endif %}
   and not exists (select from {% call wire::dec(q.table, "$2::text::json", q.key, q.json, "s") %}{% endcall %}
                    where {% for c in q.key %}{% if !loop.first %} and {% endif %}s.{{ c }} = t.{{ c }}{% endfor %})
