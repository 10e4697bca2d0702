-- The staged rows, inserted or updated by key.
insert into {{ table }} as t ({% for c in columns %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %})
select {% for c in columns %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %} from {{ stage }}
    on conflict ({% for c in key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %})
{%- if non_key.is_empty() %}
    do nothing
{%- else %}
    do update set {% for c in non_key %}{% if !loop.first %}, {% endif %}{{ c }} = excluded.{{ c }}{% endfor %}
{%- endif %}
