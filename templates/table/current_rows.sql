{%- import "wire.sql" as wire -%}
-- For shipping an async entry: the replicated columns of the rows with the given
-- keys as they are now (rows outside the filter left out), and the keys that have
-- no such row any more, to be deleted on the peer.
{%- let p_keys = "{}.p_keys"|format(function) %}
{%- if let Some(versions) = versions %}
-- With each key's version (a key this node has no version of gets the oldest
-- possible one, so it only fills a gap on the receiving node).
{%- endif %}
create or replace function repsync.{{ function }}(p_keys json, out rows json, out gone json, out versions json)
language sql stable
set search_path = pg_catalog, pg_temp
{#- Row-level security never filters silently here: for a role it applies to, the
    statements on the table fail ("query would be affected by row-level security
    policy") instead of treating the rows it hides as missing. #}
set row_security = off{% call wire::settings(json) %}{% endcall %}
as {{ tag }}
    -- Each key once: an update queues both its old and its new keys, and merged
    -- entries repeat keys (repsync.merge_keys only concatenates).
    -- The parameter is qualified by the function's name: a column of the same name wins over a bare one.
    with k as (
        select distinct {% for c in key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %}
          from {% call wire::dec(table, p_keys, key, json, "") %}{% endcall %}
    ), r as (
        select {% for c in columns %}{% if !loop.first %}, {% endif %}x.{{ c }}{% endfor %}
          from (select t.*
                  from {% if !partitioned %}only {% endif %}{{ table }} as t
                  join k on {% for c in key %}{% if !loop.first %} and {% endif %}t.{{ c }} = k.{{ c }}{% endfor %}) as x
         {%- if let Some(f) = filter %}
         where {{ f }}
         {%- endif %}
    )
    select (select json_agg(e.*) from (select {% call wire::enc("r.", columns, json) %}{% endcall %} from r) as e),
           case when (select count(*) from r) < (select count(*) from k) then
           (select json_agg(g.*)
              from (select {% call wire::enc("d.", key, json) %}{% endcall %}
                      from (select {% for c in key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %} from k
                            except
                            select {% for c in key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %} from r) as d) as g)
           end,
{%- if let Some(versions) = versions %}
           (select json_agg(v.*)
              from (select {% for c in key %}{% if json.as_text(c) %}k.{{ c }}::text as {{ c }}{% else %}k.{{ c }}{% endif %}, {% endfor %}coalesce(v.repsync_at, '-infinity') as repsync_at,
                           coalesce(v.repsync_origin, '') as repsync_origin, v.repsync_base_at, v.repsync_base_origin,
                           coalesce(v.repsync_deleted, false) as repsync_deleted,
                           coalesce(v.repsync_rank, 2147483647) as repsync_rank
                      from k left join repsync.{{ versions }} as v
                        on {% for c in key %}{% if !loop.first %} and {% endif %}v.{{ c }} = k.{{ c }}{% endfor %}) as v)
{%- else %}
           null::json
{%- endif %}
{{ tag }};
revoke all on function repsync.{{ function }}(json) from public;
