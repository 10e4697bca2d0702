{%- import "wire.sql" as wire -%}
{#- The versions in p_versions: keys as wire::enc wrote them (json and jsonb turned
    back here), then the version columns in the versions table's order. -#}
{%- macro incoming() -%}
{% if json.any_of(key) -%}
(select {% for c in key %}{% if json.is_json(c) %}(j.{{ c }} #>> '{}')::json as {{ c }}{% else if json.is_jsonb(c) %}(j.{{ c }} #>> '{}')::jsonb as {{ c }}{% else %}j.{{ c }}{% endif %}, {% endfor %}j.repsync_at, j.repsync_origin,
        j.repsync_base_at, j.repsync_base_origin, j.repsync_deleted, j.repsync_rank
   from json_populate_recordset(null::repsync.{{ versions }}, {{ function }}.p_versions) as j)
{%- else -%}
json_populate_recordset(null::repsync.{{ versions }}, {{ function }}.p_versions)
{%- endif %}
{%- endmacro -%}
-- Applies a peer's change to a table that more than one node writes. Each key comes{# No name in SQL comments: a newline in a quoted name would end the comment. #}
-- with its version: when and where it was captured, and the version it replaced
-- there. A key whose local version is of another node, and neither side had seen
-- the other's version, was changed concurrently: a conflict, settled by the policy
-- and logged. Apart from conflicts, a version replaces only an older one, so a
-- change that arrives late (a retry, another node passing it on) has no effect.
create or replace procedure repsync.{{ function }}(p_op "char", p_old json, p_new json, p_versions json default null)
language plpgsql
set search_path = pg_catalog, pg_temp
{#- Row-level security never filters silently here: for a role it applies to, the
    statements on the table fail ("query would be affected by row-level security
    policy") instead of treating the rows it hides as missing. #}
set row_security = off{% call wire::settings(json) %}{% endcall %}
as {{ tag }}
#variable_conflict use_column
{#- Inside statements the parameters are qualified by the procedure's name, and a
    column of the table wins over a bare name: no column name can capture them. #}
{%- let p_new = "{}.p_new"|format(function) %}
declare
    v_lock_timeout text := current_setting('lock_timeout');
begin
    if p_op = 'T' then
        truncate {% if !partitioned %}only {% endif %}{{ table }};
        return;
    end if;
    -- Local writers lock a row, then (in the capture trigger) its version; this
    -- procedure locks versions that a writer may want and then waits for rows a
    -- writer may hold. Such a deadlock must cost this batch, which is tried again
    -- later, never the local writer: give up on any lock after 200 ms, and where
    -- allowed (superuser) check for deadlocks sooner than local sessions do, so
    -- that PostgreSQL's detector picks this session.
    perform set_config('lock_timeout', '200ms', true);
    begin
        perform set_config('deadlock_timeout', '50ms', true);
    exception when insufficient_privilege then
        null;
    end;
    -- Lock the keys' rows and versions first, in key order. A local writer of one
    -- of them has then committed (the comparison below, a new statement, sees its
    -- version), and none can change them before this transaction ends. A key
    -- without a version gets an empty one to lock, which counts as none.
    perform from {% if !partitioned %}only {% endif %}{{ table }} as t
     where ({% for c in key %}{% if !loop.first %}, {% endif %}t.{{ c }}{% endfor %}) in
           (select {% for c in key %}{% if !loop.first %}, {% endif %}i.{{ c }}{% endfor %}
              from {% call incoming() %}{% endcall %} as i)
     order by {% for c in key %}{% if !loop.first %}, {% endif %}t.{{ c }}{% endfor %}
       for update;
    insert into repsync.{{ versions }} as v ({% for c in key %}{{ c }}, {% endfor %}repsync_at, repsync_origin, repsync_deleted, repsync_rank)
    select {% for c in key %}i.{{ c }}, {% endfor %}'-infinity', '', true, 2147483647
      from {% call incoming() %}{% endcall %} as i
     order by {% for c in key %}{% if !loop.first %}, {% endif %}i.{{ c }}{% endfor %}
        on conflict ({% for c in key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %}) do update set repsync_at = v.repsync_at;
    -- Each relation below holds either the table's columns or names of this
    -- procedure's own, never both: a key travels inside the composite version (v),
    -- rows are compared as to_json of a whole row, so no column name can collide.
    with incoming as (
        select (i.*)::repsync.{{ versions }} as v
          from {% call incoming() %}{% endcall %} as i
    ), remote_rows as (
        select {% for c in columns %}{% if !loop.first %}, {% endif %}r.{{ c }}{% endfor %}
          from {% call wire::dec(table, p_new, columns, json, "r") %}{% endcall %}
    ), compared as (
        -- Joins, not subqueries per key: a batch can hold tens of thousands of keys.
        select i.v,
               case when l.repsync_origin <> '' then l.repsync_at end as local_at,
               nullif(l.repsync_origin, '') as local_origin,
               l.repsync_base_at as local_base_at,
               l.repsync_rank as local_rank,
               to_json(lr.*) as local_row,
               to_json(rr.*) as remote_row
{%- if let Some(column) = newer_column %},
               lr.{{ column }} as local_stamp,
               rr.{{ column }} as remote_stamp
{%- endif %}
          from incoming as i
          left join repsync.{{ versions }} as l
            on {% for c in key %}{% if !loop.first %} and {% endif %}l.{{ c }} = (i.v).{{ c }}{% endfor %}
          left join remote_rows as rr
            on {% for c in key %}{% if !loop.first %} and {% endif %}rr.{{ c }} = (i.v).{{ c }}{% endfor %}
          left join lateral (
                select {% for c in columns %}{% if !loop.first %}, {% endif %}t.{{ c }}{% endfor %}
                  from {% if !partitioned %}only {% endif %}{{ table }} as t
                 where {% for c in key %}{% if !loop.first %} and {% endif %}t.{{ c }} = (i.v).{{ c }}{% endfor %}
               ) as lr on true
    ), judged as (
        select c.*,
               -- Capture times only grow along a chain of changes, so a version
               -- no later than the one the other side started from is one that
               -- side had seen: not a conflict, just an older version.
               c.local_at is not null
               and c.local_origin <> (c.v).repsync_origin
               and coalesce((c.v).repsync_at > c.local_base_at, true)
               and coalesce(c.local_at > (c.v).repsync_base_at, true) as conflict,
               -- The order every node applies: a better rank first (ranks differ
               -- only under origin-priority), then the later capture time, then
               -- the greater node name. Both only improve along a chain of
               -- changes, so it agrees with the order the changes were made in.
               coalesce((c.v).repsync_rank, 2147483647) < c.local_rank
               or (coalesce((c.v).repsync_rank, 2147483647) = c.local_rank
                   and ((c.v).repsync_at, (c.v).repsync_origin) > (c.local_at, c.local_origin)) as newer
          from compared as c
    ), decided as (
        select j.*,
               case when j.local_at is null then true
                    when not j.conflict then j.newer
{%- if keep_local %}
                    else false
{%- else if apply_remote %}
                    else true
{%- else if newer_column.is_some() %}
                    -- The later value of the column wins; a tie, or a side without a
                    -- row, is settled by when the changes were captured.
                    when j.remote_stamp is not null and j.local_stamp is not null
                         and j.remote_stamp is distinct from j.local_stamp then j.remote_stamp > j.local_stamp
                    else j.newer
{%- else if origin_priority %}
                    -- The version whose history has the better-placed node wins:
                    -- that is the rank in newer.
                    else j.newer
{%- else %}
                    else j.newer
{%- endif %}
               end as applies
          from judged as j
    ), removed as (
        delete from {% if !partitioned %}only {% endif %}{{ table }} as t
         using decided as d
         where d.applies and d.remote_row is null
           and {% for c in key %}{% if !loop.first %} and {% endif %}t.{{ c }} = (d.v).{{ c }}{% endfor %}
    ), upserted as (
        insert into {{ table }} as t ({% for c in columns %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %})
        overriding system value
        select {% for c in columns %}{% if !loop.first %}, {% endif %}r.{{ c }}{% endfor %}
          from remote_rows as r
          join decided as d on {% for c in key %}{% if !loop.first %} and {% endif %}(d.v).{{ c }} = r.{{ c }}{% endfor %}
         where d.applies
            on conflict ({% for c in key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %})
        {%- if non_key.is_empty() %}
            do nothing
        {%- else %}
            do update set {% for c in non_key %}{% if !loop.first %}, {% endif %}{{ c }} = excluded.{{ c }}{% endfor %}
        {%- endif %}
    ), versioned as (
        insert into repsync.{{ versions }} as v
            ({% for c in key %}{{ c }}, {% endfor %}repsync_at, repsync_origin, repsync_base_at, repsync_base_origin, repsync_deleted, repsync_rank)
        select {% for c in key %}(d.v).{{ c }}, {% endfor %}(d.v).repsync_at, (d.v).repsync_origin, (d.v).repsync_base_at, (d.v).repsync_base_origin,
               d.remote_row is null, coalesce((d.v).repsync_rank, 2147483647)
          from decided as d
         where d.applies
            on conflict ({% for c in key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %}) do update
           set repsync_at = excluded.repsync_at, repsync_origin = excluded.repsync_origin,
               repsync_base_at = excluded.repsync_base_at, repsync_base_origin = excluded.repsync_base_origin,
               repsync_deleted = excluded.repsync_deleted, repsync_rank = excluded.repsync_rank
    )
    insert into repsync.conflict
        (set_name, key, local_origin, local_at, local_row, remote_origin, remote_at, remote_row, policy, winner)
    select {{ set_name }},
           (select to_json(k.*) from (select {% for c in key %}{% if !loop.first %}, {% endif %}(d.v).{{ c }}{% endfor %}) as k),
           d.local_origin, d.local_at, d.local_row, (d.v).repsync_origin, (d.v).repsync_at, d.remote_row,
           {{ policy }}, case when d.applies then 'remote' else 'local' end
      from decided as d
     where d.conflict;
    perform set_config('lock_timeout', v_lock_timeout, true);
end
{{ tag }};
