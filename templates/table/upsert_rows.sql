{%- import "wire.sql" as wire -%}
-- Rows inserted or updated by key (other columns of existing rows stay): the staged
-- rows a shipper copied, or the JSON rows in $1 of a repair.
insert into {{ table }} as t ({% for c in columns %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %})
overriding system value
select {% for c in columns %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %}
{%- if let Some(stage) = stage %}
  from {{ stage }}
{%- else %}
  from {% call wire::dec(table, "$1::text::json", columns, json, "") %}{% endcall %}
{%- endif %}
    on conflict ({% for c in key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %})
{%- if non_key.is_empty() %}
    do nothing
{%- else %}
    do update set {% for c in non_key %}{% if !loop.first %}, {% endif %}{{ c }} = excluded.{{ c }}{% endfor %}
{%- endif %}
