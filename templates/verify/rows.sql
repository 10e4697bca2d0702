-- The rows of the buckets in $1, as text.
select row({% for c in key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %})::text as key,
       row({% for c in columns %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %})::text as row
  from only {{ table }}
 where ({% if typed %}hash_record_extended(row({% for c in key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %}), 0){% else %}hashtextextended(row({% for c in key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %})::text, 0){% endif %} & {{ mask }})::int = any ($1::int[])
{%- if let Some(f) = filter %}
   and {{ f }}
{%- endif %}
