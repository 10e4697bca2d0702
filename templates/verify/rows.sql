{%- import "verify/hash.sql" as h -%}
-- The rows of the buckets in $1, as text.
select row({% for c in q.key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %})::text as key,
       row({% for c in q.columns %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %})::text as row
  from {% if !q.partitioned %}only {% endif %}{{ q.table }}
 where {% call h::bucket(q, "") %}{% endcall %} = any ($1::int[])
{%- if let Some(f) = q.filter %}
   and {{ f }}
{%- endif %}
