-- The replicated columns of the rows with the given keys, as they are now, for
-- shipping an async entry; rows outside the filter are left out.
create or replace function repsync.{{ function }}(p_keys json)
returns json language sql stable
set search_path = pg_catalog, pg_temp
as {{ tag }}
    select json_agg(r)
      from (select {% for c in columns %}{% if !loop.first %}, {% endif %}x.{{ c }}{% endfor %}
              from (select t.*
                      from only {{ table }} as t
                      join (select distinct {% for c in key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %}
                              from json_populate_recordset(null::{{ table }}, p_keys)) as k
                        on {% for c in key %}{% if !loop.first %} and {% endif %}t.{{ c }} = k.{{ c }}{% endfor %}) as x
             {%- if let Some(f) = filter %}
             where {{ f }}
             {%- endif %}) as r
{{ tag }};
revoke all on function repsync.{{ function }}(json) from public;
