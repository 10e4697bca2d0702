{%- import "wire.sql" as wire -%}
-- Applies a peer's captured statement to the table below. Idempotent: full row images are{# No name in SQL comments: a newline in a quoted name would end the comment. #}
-- upserted by key, deletes of missing rows do nothing, so a batch applied twice
-- leaves the same result.
create or replace procedure repsync.{{ function }}(p_op "char", p_old json, p_new json)
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
{%- let p_old = "{}.p_old"|format(function) %}
{%- let p_new = "{}.p_new"|format(function) %}
{%- let p_new_or_empty = "coalesce({}.p_new, '[]')"|format(function) %}
begin
    if p_op = 'T' then
        truncate {% if !partitioned %}only {% endif %}{{ table }};
        return;
    end if;
    if p_old is not null and p_op = 'K' then
        -- An async entry's keys whose rows are gone from the source: none of them
        -- is among the rows in p_new (repsync.entry_call).
        delete from {% if !partitioned %}only {% endif %}{{ table }} as t
         using {% call wire::dec(table, p_old, key, json, "gone") %}{% endcall %}
         where {% for c in key %}{% if !loop.first %} and {% endif %}t.{{ c }} = gone.{{ c }}{% endfor %};
    elsif p_old is not null then
        -- Keys that are gone: all of them for a delete, the changed ones for an update.
        delete from {% if !partitioned %}only {% endif %}{{ table }} as t
         using (select {% for c in key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %}
                  from {% call wire::dec(table, p_old, key, json, "") %}{% endcall %}
                except
                select {% for c in key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %}
                  from {% call wire::dec(table, p_new_or_empty, key, json, "") %}{% endcall %}) as gone
         where {% for c in key %}{% if !loop.first %} and {% endif %}t.{{ c }} = gone.{{ c }}{% endfor %};
    end if;
    if p_new is not null then
        insert into {{ table }} as t ({% for c in columns %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %})
        overriding system value
        select {% for c in columns %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %}
          from {% call wire::dec(table, p_new, columns, json, "") %}{% endcall %}
            on conflict ({% for c in key %}{% if !loop.first %}, {% endif %}{{ c }}{% endfor %})
        {%- if non_key.is_empty() %}
            do nothing;
        {%- else %}
            do update set {% for c in non_key %}{% if !loop.first %}, {% endif %}{{ c }} = excluded.{{ c }}{% endfor %};
        {%- endif %}
    end if;
end
{{ tag }};
