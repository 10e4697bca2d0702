{%- import "verify/hash.sql" as h -%}
{%- import "wire.sql" as wire -%}
-- The rows of the buckets in $1, as JSON, to copy to the other nodes.
select coalesce(json_agg(r.*), '[]')::text
  from (select {% call wire::enc("", q.columns, q.json) %}{% endcall %}
          from {% if !q.partitioned %}only {% endif %}{{ q.table }}
         where {% call h::bucket(q, "") %}{% endcall %} = any ($1::int[])
{%- if let Some(f) = q.filter %}
           and {{ f }}
{%- endif %}
       ) r
