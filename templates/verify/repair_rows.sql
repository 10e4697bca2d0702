-- The rows of the buckets in $1, as JSON, to copy to the other nodes.
select coalesce(json_agg(r), '[]')::text
  from (select {% for c in columns %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %}
          from only {{ table }}
         where ({% if typed %}hash_record_extended(row({% for c in key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %}), 0){% else %}hashtextextended(row({% for c in key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %})::text, 0){% endif %} & {{ mask }})::int = any ($1::int[])
{%- if let Some(f) = filter %}
           and {{ f }}
{%- endif %}
       ) r
