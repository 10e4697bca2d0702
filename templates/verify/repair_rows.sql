{%- import "verify/hash.sql" as h -%}
-- The rows of the buckets in $1, as JSON, to copy to the other nodes.
select coalesce(json_agg(r), '[]')::text
  from (select {% for c in q.columns %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %}
          from only {{ q.table }}
         where {% call h::bucket(q, "") %}{% endcall %} = any ($1::int[])
{%- if let Some(f) = q.filter %}
           and {{ f }}
{%- endif %}
       ) r
