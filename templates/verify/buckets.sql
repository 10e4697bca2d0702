{%- import "verify/hash.sql" as h -%}
-- Per bucket of keys: how many rows, and the sum of a hash of each row: of its
-- columns by their types' hash functions, or of its text.
select {% call h::bucket(q, "") %}{% endcall %} as bucket,
       count(*) as rows,
       sum({% call h::row_hash(q, q.columns, "") %}{% endcall %})::text as hash
  from {% if !q.partitioned %}only {% endif %}{{ q.table }}
{%- if let Some(f) = q.filter %}
 where {{ f }}
{%- endif %}
 group by 1
