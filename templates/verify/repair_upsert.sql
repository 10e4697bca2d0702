-- The rows in $1 (JSON), inserted or updated by key; other columns stay.
insert into {{ table }} as t ({% for c in columns %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %})
select {% for c in columns %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %}
  from json_populate_recordset(null::{{ table }}, $1::text::json)
    on conflict ({% for c in key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %})
{%- if non_key.is_empty() %}
    do nothing
{%- else %}
    do update set {% for c in non_key %}{% if !loop.first %}, {% endif %}{{ c }} = excluded.{{ c }}{% endfor %}
{%- endif %}
