-- Per bucket of keys: how many rows, and the sum of a hash of each row: of its
-- columns by their types' hash functions, or of its text.
select ({% if typed %}hash_record_extended(row({% for c in key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %}), 0){% else %}hashtextextended(row({% for c in key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %})::text, 0){% endif %} & {{ mask }})::int as bucket,
       count(*) as rows,
{%- if typed %}
       sum(hash_record_extended(row({% for c in columns %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %}), 0))::text as hash
{%- else %}
       sum(hashtextextended(row({% for c in columns %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %})::text, 0))::text as hash
{%- endif %}
  from only {{ table }}
{%- if let Some(f) = filter %}
 where {{ f }}
{%- endif %}
 group by 1
