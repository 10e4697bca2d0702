{%- import "wire.sql" as wire -%}
{%- macro settled(c, q, versions, set_name) -%}
-- This node holds the same tombstone of the key, or no version of it at all, and no
-- row with it; and no queued change of the table holds the key.
not exists (select from {{ versions }} as v
             where {% for k in q.key %}{{ c }}.{{ k }} = v.{{ k }} and {% endfor %}
                   not (v.repsync_deleted and v.repsync_at = {{ c }}.repsync_at and v.repsync_origin = {{ c }}.repsync_origin))
and not exists (select from {% if !q.partitioned %}only {% endif %}{{ q.table }} as t
                 where {% for k in q.key %}{% if !loop.first %} and {% endif %}t.{{ k }} = {{ c }}.{{ k }}{% endfor %})
and not exists (select from repsync.sync_err_rec as e,
                       {% if q.json.any_of(q.key) %}lateral {% endif %}{% call wire::dec(q.table, "e.old_rows", q.key, q.json, "queued") %}{% endcall %}
                 where e.set_name = {{ set_name }}
                   and {% for k in q.key %}{% if !loop.first %} and {% endif %}queued.{{ k }} = {{ c }}.{{ k }}{% endfor %})
{%- endmacro -%}
