-- Rows of the buckets in $1 whose key is not among the rows in $2 (JSON).
delete from only {{ table }} as t
 where ({% if typed %}hash_record_extended(row({% for c in key %}{% if !loop.first %}, {% endif %}t.{{ c }}{% endfor %}), 0){% else %}hashtextextended(row({% for c in key %}{% if !loop.first %}, {% endif %}t.{{ c }}{% endfor %})::text, 0){% endif %} & {{ mask }})::int = any ($1::int[])
{%- if let Some(f) = filter %}
   and {{ f }}
{%- endif %}
   and not exists (select from json_populate_recordset(null::{{ table }}, $2::text::json) as s
                    where {% for c in key %}{% if !loop.first %} and {% endif %}s.{{ c }} = t.{{ c }}{% endfor %})
